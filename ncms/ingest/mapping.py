"""County database mappings (``config/mappings/<county>.yaml``): where each record type of the
exchange format lives in a vendor's database, and how its values translate.

Onboarding a centralised county is writing one of these files, not code. Per record type,
either a ``table`` with a ``watermark`` column and a column mapping, or a ``query`` (any
SELECT the source accepts) whose result has the watermark column. The watermark is an
update time unless ``watermark_kind: sequence`` says it is a growing number (a scheduler's
date window then does not bound it); ``overlap`` is how far below it each run re-reads
(seconds, default 60, for a time; numbers, default 0, for a sequence). A table with no
reliable change column is mapped ``change: compare`` instead of a watermark: compared whole,
by key and row hash, every run. A field is mapped to a source column by name, or by a small
dictionary:

- ``{column: X, codes: {"1": head, …}}`` — vendor codes to the exchange codes; a code not
  listed passes through unchanged, so the screen refuses it and the receipt names it;
- ``{column: X, date: "%Y%m%d"}`` — a date in the vendor's text format (a date or date-time
  column needs nothing: it becomes YYYY-MM-DD); a value that does not parse passes through;
- ``{column: X, fen: true}`` — whole fen (分) to yuan with two decimals;
- ``{value: "0"}`` — a constant.

A query with no ``columns`` returns the exchange field names itself (optional ones if it has them).

Claim items travel with their claims: a ``claim_item`` table is windowed by its claim's
watermark through ``claim_id`` (the claim table's key column and the item table's column
holding it); a ``claim_item`` query must return its claim's watermark itself.

The connection is never in the file: ``source.env`` names an environment variable holding
its SQLAlchemy URL, ``source.conn_id`` an Airflow connection.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from ncms.config import ConfigError
from ncms.configfile import line_of, read_yaml
from ncms.exchange.fields import DATE
from ncms.exchange.schemas import LOAD_ORDER, RECORD_SCHEMAS
from ncms.exchange.screen import SOURCE_KEY

MAPPINGS = "mappings"
STREAMS = ("member", "enrolment", "claim", "financing")  # claim items ride with their claims
DEFAULT_CHUNK_ROWS = 200_000
DEFAULT_OVERLAP = {"time": 60, "sequence": 0}  # re-read below the watermark: seconds, numbers
_COLUMN_KEYS = {"column", "codes", "date", "fen", "value"}


@dataclass(frozen=True)
class FieldMapping:
    """How one exchange field is made from the source."""

    name: str
    column: str | None = None
    codes: dict[str, str] | None = None
    date: str | None = None
    fen: bool = False
    value: str | None = None


@dataclass(frozen=True)
class RecordMapping:
    record_type: str
    table: str | None
    query: str | None
    watermark: str | None  # a column of the table or of the query's result
    fields: dict[str, FieldMapping]
    by_name: bool = False  # a query mapped with no columns: its result has the exchange names
    sequence: bool = False  # the watermark is a growing number, not a time: no date bounds it
    overlap: int = 0  # seconds (time) or numbers (sequence) re-read below the watermark
    compare: bool = False  # no watermark: every run compares the whole source by key and row hash

    def returning(self, names: list[str]) -> "RecordMapping":
        """A query mapped by name, narrowed to the fields its result has."""
        specs = RECORD_SCHEMAS[self.record_type].specs()
        missing = [n for n, spec in specs.items() if spec.required and n not in names]
        if missing:
            raise ConfigError(f"the {self.record_type} query returns no {', '.join(missing)}")
        return replace(self, fields={n: f for n, f in self.fields.items() if n in names}, by_name=False)

    @property
    def source_columns(self) -> list[str]:
        """The source columns read, each once, in field order."""
        return list(dict.fromkeys(f.column for f in self.fields.values() if f.column))

    def translate(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Source rows (columns named as in the source) as exchange records: every field, as text."""
        specs = RECORD_SCHEMAS[self.record_type].specs()
        exprs = []
        for name, spec in specs.items():
            mapped = self.fields.get(name)
            if mapped is None:
                exprs.append(pl.lit(None, pl.String).alias(name))
            elif mapped.value is not None:
                exprs.append(pl.lit(mapped.value, pl.String).alias(name))
            else:
                exprs.append(_translate(frame.schema[mapped.column], mapped, spec.kind == DATE).alias(name))
        return frame.select(exprs)

    def extract(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``translate``, plus each row's key in the source (``_source_key``, e.g.
        ``XNH_JSXX.JSDH=2024000123``): the county finds a refused row by it, not by a line of
        an extract it never saw. The key is the columns the record's exchange key is mapped
        to, with their values as the source holds them (before codes are translated)."""
        columns = [self.fields[k].column for k in RECORD_SCHEMAS[self.record_type].key
                   if k in self.fields and self.fields[k].column]
        parts = [pl.concat_str(pl.lit(f"{name}="), pl.col(name).cast(pl.String).fill_null(""))
                 for name in dict.fromkeys(columns)]
        key = (pl.concat_str(pl.lit(f"{self.table or 'query'}."), pl.concat_str(parts, separator=";"))
               if parts else pl.lit(None, pl.String))
        return self.translate(frame).with_columns(frame.select(key.alias(SOURCE_KEY)).to_series())


@dataclass(frozen=True)
class CountyMapping:
    county_code: str
    path: Path
    source_env: str | None
    conn_id: str | None
    records: dict[str, RecordMapping]
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    description: str = ""
    streams: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "streams", tuple(s for s in STREAMS if s in self.records))


def mapping_path(config_dir: Path, county: str) -> Path:
    return Path(config_dir) / MAPPINGS / f"{county}.yaml"


def load_mapping(config_dir: Path, county: str) -> CountyMapping:
    """Read and check one county's mapping; a mistake is a ConfigError naming the file and the place."""
    path = mapping_path(config_dir, county)
    if not path.exists():
        raise ConfigError(f"county {county} has no mapping: write {path} (see docs/operations.md), "
                          "or set its delivery: packages in province.yaml if it sends packages")
    return parse_mapping(read_yaml(path), path, county)


def parse_mapping(raw: Any, path: Path, county: str) -> CountyMapping:
    def fail(message: str, at: Any = None, key: Any = None) -> ConfigError:
        """``file:line: message``, the line of ``key`` in ``at`` (or of the file's top)."""
        line = line_of(at if at is not None else raw, key)
        return ConfigError(f"{path}:{line}: {message}" if line else f"{path}: {message}")

    if not isinstance(raw, dict):
        raise fail("expected a mapping with county, source and records")
    if str(raw.get("county", "")) != county:
        raise fail(f"county: {raw.get('county')!r} is not allowed; allowed: {county!r}, the file's name", raw, "county")
    source = raw.get("source") or {}
    if not isinstance(source, dict) or not (source.get("env") or source.get("conn_id")):
        raise fail("source: needs env (a variable holding the database URL) or conn_id (an Airflow connection)",
                   raw, "source")
    if set(source) - {"env", "conn_id"}:
        raise fail(f"source: {', '.join(sorted(set(source) - {'env', 'conn_id'}))} is not allowed; allowed: env, "
                   "conn_id (never the connection itself)", raw, "source")
    records_raw = raw.get("records")
    if not isinstance(records_raw, dict) or not records_raw:
        raise fail(f"records: is empty; allowed: one or more of {', '.join(LOAD_ORDER)}", raw, "records")
    unknown = set(records_raw) - set(LOAD_ORDER)
    if unknown:
        raise fail(f"records.{sorted(unknown)[0]}: no such record type; allowed: {', '.join(LOAD_ORDER)}",
                   records_raw, sorted(unknown)[0])
    records = {rt: _record(rt, records_raw[rt], lambda m, at=None, key=None, rt=rt: fail(
        m, records_raw if at is None else at, rt if at is None else key)) for rt in LOAD_ORDER if rt in records_raw}
    if "claim_item" in records:
        items, claims = records["claim_item"], records.get("claim")
        if claims is None:
            raise fail("claim_item needs claim: items are extracted with their claims")
        if items.table and not (claims.table and _plain(claims, "claim_id") and _plain(items, "claim_id")):
            raise fail("a claim_item table needs a claim table, and claim_id mapped to a plain column in both")
    chunk_rows = raw.get("chunk_rows", DEFAULT_CHUNK_ROWS)
    if not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise fail(f"chunk_rows: {chunk_rows!r} is not allowed; allowed: a whole number, 1 or more", raw, "chunk_rows")
    return CountyMapping(county_code=county, path=path, source_env=source.get("env"), conn_id=source.get("conn_id"),
                         records=records, chunk_rows=chunk_rows, description=str(raw.get("description", "")))


def _record(record_type: str, raw: Any, fail: Any) -> RecordMapping:
    where = f"records.{record_type}"
    if not isinstance(raw, dict):
        raise fail(f"{where}: expected table or query, watermark and columns")
    table, query = raw.get("table"), raw.get("query")
    if bool(table) == bool(query):
        raise fail(f"{where}: give either table or query")
    watermark, compare = raw.get("watermark"), _change(raw, where, fail)
    if record_type == "claim_item" and table:
        if watermark or compare:
            raise fail(f"{where}: a claim_item table is windowed by its claim's watermark: remove watermark and change")
    elif compare and watermark:
        raise fail(f"{where}: change: compare reads the whole table by key: remove watermark")
    elif not (watermark or compare):
        raise fail(f"{where}: watermark names the column (update time or a growing id) to extract by, "
                   "or change: compare compares the whole table by key")
    specs = RECORD_SCHEMAS[record_type].specs()
    columns = raw.get("columns")
    by_name = columns is None and bool(query)
    if by_name:
        columns = {name: name for name in specs}  # narrowed to what the query returns when it runs
    if not isinstance(columns, dict):
        raise fail(f"{where}.columns: expected field: column pairs", raw, "columns")
    unknown = set(columns) - set(specs)
    if unknown:
        raise fail(f"{where}.columns.{sorted(unknown)[0]}: no such field of {record_type}; allowed: "
                   f"{', '.join(specs)}", columns, sorted(unknown)[0])
    missing = [name for name, spec in specs.items() if spec.required and name not in columns]
    if missing:
        raise fail(f"{where}.columns: required fields not mapped: {', '.join(missing)}", raw, "columns")
    fields = {name: _field(name, value, f"{where}.columns.{name}",
                           lambda m, at=None, key=None, name=name: fail(m, columns, name))
              for name, value in columns.items()}
    kind = raw.get("watermark_kind", "time")
    if kind not in ("time", "sequence"):
        raise fail(f"{where}.watermark_kind: {kind!r} is not allowed; allowed: time (an update time, the default), "
                   "sequence (a growing number)", raw, "watermark_kind")
    overlap = raw.get("overlap", DEFAULT_OVERLAP[kind] if watermark else 0)
    if not isinstance(overlap, int) or isinstance(overlap, bool) or overlap < 0 or (overlap and not watermark):
        raise fail(f"{where}.overlap: {overlap!r} is not allowed; allowed: a whole number, 0 or more, of seconds "
                   "(time) or numbers (sequence) re-read below the watermark; only with a watermark", raw, "overlap")
    return RecordMapping(record_type, table, query, watermark, fields, by_name, sequence=kind == "sequence",
                         overlap=overlap, compare=compare)


def _change(raw: dict[str, Any], where: str, fail: Any) -> bool:
    """``change: watermark`` (the default) or ``compare``: True for compare."""
    change = raw.get("change", "watermark")
    if change not in ("watermark", "compare"):
        raise fail(f"{where}.change: {change!r} is not allowed; allowed: watermark (extract past a watermark "
                   "column, the default), compare (the whole table by key and row hash, for a table with no "
                   "reliable change column)", raw, "change")
    return change == "compare"


def _field(name: str, raw: Any, where: str, fail: Any) -> FieldMapping:
    if isinstance(raw, str):
        return FieldMapping(name, column=raw)
    if not isinstance(raw, dict) or set(raw) - _COLUMN_KEYS or not (raw.get("column") or "value" in raw):
        raise fail(f"{where}: {raw!r} is not allowed; allowed: a column name, or a dictionary of column with "
                   "codes, date or fen, or of value")
    codes = raw.get("codes")
    if codes is not None and not isinstance(codes, dict):
        raise fail(f"{where}.codes: expected vendor code: exchange code pairs")
    return FieldMapping(name, column=raw.get("column"), date=raw.get("date"), fen=bool(raw.get("fen")),
                        codes={str(k): str(v) for k, v in codes.items()} if codes else None,
                        value=None if raw.get("value") is None else str(raw["value"]))


def _plain(record: RecordMapping, name: str) -> bool:
    mapped = record.fields.get(name)
    return bool(mapped and mapped.column and not (mapped.codes or mapped.date or mapped.fen))


def _translate(dtype: pl.DataType, mapped: FieldMapping, is_date: bool) -> pl.Expr:
    column = pl.col(mapped.column)
    if (is_date and dtype in (pl.Date, pl.Datetime)) or isinstance(dtype, pl.Datetime):
        text = column.dt.strftime("%Y-%m-%d" if is_date else "%Y-%m-%d %H:%M:%S")
    elif mapped.fen:
        fen = column.cast(pl.Int64, strict=False)
        whole = fen.abs()
        formatted = (pl.when(fen < 0).then(pl.lit("-")).otherwise(pl.lit(""))
                     + (whole // 100).cast(pl.String) + "." + (whole % 100).cast(pl.String).str.zfill(2))
        text = pl.when(fen.is_null()).then(column.cast(pl.String)).otherwise(formatted)
    else:
        text = column.cast(pl.String)
    if mapped.date:
        parsed = text.str.strptime(pl.Date, mapped.date, strict=False).dt.strftime("%Y-%m-%d")
        text = pl.coalesce(parsed, text)
    if mapped.codes:
        text = text.replace(mapped.codes)
    return text
