"""Validation of whole chunks: a vectorised screen, then marshmallow for the rows it flags.

The screen finds bad rows at column speed; only those rows go through marshmallow, which
says exactly which field is wrong and why. Good rows leave here as strings, normalised
(codes and numbers trimmed of spaces, national IDs upper-cased) and ready to stage.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl

from .fields import ID_PADDING, NATIONAL_ID, bad_value, normalised, padded
from .messages import Problem
from .schemas import Record

LINE = "_line"
SOURCE_KEY = "_source_key"  # an ETL row's key in the county database (``TABLE.COLUMN=value``), for its receipt


@dataclass
class Screened:
    good: pl.DataFrame
    problems: list[Problem]


def screen(schema_cls: type[Record], frame: pl.DataFrame, *, today: date, file: str) -> Screened:
    """Split a chunk (all columns strings, plus ``_line``) into good rows and problems."""
    specs = schema_cls.specs()
    first = _flag(schema_cls, _conform(frame, specs), today, padding=True)
    # a second look, trimmed, at the rows the first flagged (few): a padded code or number
    # fails its check as sent, a padded identifier is flagged for its padding
    flagged = first.filter(pl.col("_bad"))
    second = flagged if flagged.is_empty() else _flag(schema_cls, flagged.select(
        *(normalised(spec, name) for name, spec in specs.items()), pl.exclude(*specs, "_bad")), today)
    good = pl.concat([first.filter(~pl.col("_bad")), second.filter(~pl.col("_bad"))]).drop("_bad")
    problems = explain(schema_cls, second.filter(pl.col("_bad")).drop("_bad"), today=today, file=file)
    for name, spec in specs.items():
        if spec.kind == NATIONAL_ID:
            good = good.with_columns(pl.col(name).str.strip_chars(ID_PADDING).str.to_uppercase())
    return Screened(good=good, problems=problems)


def _flag(schema_cls: type[Record], frame: pl.DataFrame, today: date, padding: bool = False) -> pl.DataFrame:
    """``frame`` with ``_bad``: true where a field or a row rule fails (or, with ``padding``,
    where an identifier has spaces around it, to be trimmed and looked at again).

    Rows as sent need no trimming, so only flagged ones are trimmed: trimming every code
    and number up front took the screen of 150,896 claim items from 53 to 94 ms of CPU
    (one thread, median of 21); the padding test takes it to 57 (claims 77 -> 83,
    members 34 -> 37, a synthetic province of 60,000 claims)."""
    specs = schema_cls.specs()
    checks = [bad_value(spec, name, today).alias(f"_bad_{name}") for name, spec in specs.items()]
    checks += [r.bad().fill_null(False) for r in schema_cls.row_rules]
    if padding:
        checks += [padded(name) for name, spec in specs.items() if spec.identifier]
    bad = pl.any_horizontal(checks) if checks else pl.lit(False)
    # lazily, so that polars computes an expression the checks share once (eagerly, a
    # national ID was cleaned up once per digit of its check sum: 55 % of the screen)
    return frame.lazy().with_columns(bad.alias("_bad")).collect()


def explain(schema_cls: type[Record], rows: pl.DataFrame, *, today: date, file: str) -> list[Problem]:
    """The exact reason for each row, from marshmallow; one problem per failing field."""
    schema = schema_cls(today=today)
    problems: list[Problem] = []
    specs = schema_cls.specs()
    for row in rows.iter_rows(named=True):
        line = row.pop(LINE, None)
        errors = row_errors(schema, row)
        if not errors:  # the screen and marshmallow disagree: never drop a row silently
            errors = {"_row": ["screen_mismatch"]}
        for field, codes in errors.items():
            for code in codes:
                problems.append(Problem(
                    record_type=schema_cls.record_type, file=file, line=line, field=field,
                    value=None if field == "_row" else row.get(field), code=code,
                    spec=specs.get(field), record=row))
    return problems


def row_errors(schema: Record, row: dict[str, Any]) -> dict[str, list[str]]:
    """marshmallow's verdict on one row, as ``{field: [code, …]}`` (empty when it is valid)."""
    return {field: list(codes) for field, codes in schema.validate(row).items()}


def _conform(frame: pl.DataFrame, specs: dict[str, Any]) -> pl.DataFrame:
    """Keep the schema's columns as strings, adding any the file lacks as empty; ``_line``
    and ``_source_key`` ride along."""
    columns = []
    for name in specs:
        if name in frame.columns:
            columns.append(pl.col(name).cast(pl.String))
        else:
            columns.append(pl.lit(None, dtype=pl.String).alias(name))
    columns += [pl.col(name) for name in (LINE, SOURCE_KEY) if name in frame.columns]
    return frame.select(columns)
