"""Field specifications of the exchange format, and the two checkers derived from each.

A ``Spec`` declares what a value may be. From it come (1) a marshmallow field, which
checks one row exactly and names the problem, and (2) a polars expression, which screens
a whole column at once. They must agree; ``tests/test_exchange_screen.py`` makes
hypothesis look for a row on which they do not.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl
from marshmallow import ValidationError, fields

from ncms import ids

TEXT, CODE, INTEGER, DECIMAL, DATE, BOOLEAN, NATIONAL_ID, ICD10 = (
    "text", "code", "integer", "decimal", "date", "boolean", "national_id", "icd10")
EARLIEST_DATE = date(2003, 1, 1)  # NCMS pilots began in 2003
ICD10_PATTERN = r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$"
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
INTEGER_PATTERN = r"^-?[0-9]{1,9}$"
BOOLEAN_VALUES = ("0", "1")
PADDING = " \u3000"  # spaces (ASCII and ideographic, common in GBK exports) trimmed from codes and numbers
ID_PADDING = " \t\u3000"  # around a national ID a tab is forgiven too, nothing else
_ICD10 = re.compile(ICD10_PATTERN)
_DATE = re.compile(DATE_PATTERN)
_INTEGER = re.compile(INTEGER_PATTERN)


@dataclass(frozen=True)
class Spec:
    kind: str
    required: bool = True
    max_length: int | None = None
    choices: tuple[str, ...] | None = None
    minimum: int | Decimal | None = None
    maximum: int | Decimal | None = None
    scale: int = 2  # decimals allowed, for DECIMAL
    digits: int = 12  # integer digits allowed, for DECIMAL
    exclusive_minimum: bool = False
    identifier: bool = False  # TEXT that is a code or a number (member_no, item_code), not free text
    description: str = ""

    @property
    def trimmed(self) -> bool:
        """Codes and numbers lose spaces around them (``PADDING``); free text is kept as sent."""
        return self.kind != TEXT or self.identifier

    def decimal_pattern(self) -> str:
        # a sign is always read, so that a negative amount is out of range, not "not a number"
        return rf"^-?[0-9]{{1,{self.digits}}}(\.[0-9]{{1,{self.scale}}})?$"

    @property
    def allowed(self) -> str:
        """What is allowed, in words, for the documentation and the receipt."""
        return {
            TEXT: f"text, at most {self.max_length} characters",
            CODE: "one of " + ", ".join(self.choices or ()),
            INTEGER: _range_words("a whole number", self),
            DECIMAL: _range_words(f"a number with at most {self.scale} decimals", self),
            DATE: "a date YYYY-MM-DD, from 2003-01-01 to the day of loading",
            BOOLEAN: "0 or 1",
            NATIONAL_ID: "an 18-character national ID with a valid check character",
            ICD10: "an ICD-10 code such as J18 or J18.9",
        }[self.kind]


def _range_words(what: str, spec: Spec) -> str:
    low = "above" if spec.exclusive_minimum else "from"
    parts = [what]
    if spec.minimum is not None:
        parts.append(f"{low} {spec.minimum}")
    if spec.maximum is not None:
        parts.append(f"up to {spec.maximum}")
    return " ".join(parts)


class FieldError(ValidationError):
    """A ValidationError carrying a machine code, so receipts can say it in two languages."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


def parse_value(spec: Spec, raw: str | None, today: date) -> Any:
    """Check and convert one raw (string) value; raise FieldError with the reason."""
    if raw is not None and spec.trimmed:
        raw = raw.strip(PADDING)
    if raw is None or raw == "":
        if spec.required:
            raise FieldError("required")
        return None
    if "\ufffd" in raw:
        raise FieldError("bad_encoding")
    if spec.kind == TEXT:
        if len(raw) > (spec.max_length or 0):
            raise FieldError("too_long", max=spec.max_length, length=len(raw))
        return raw
    if spec.kind == CODE:
        if raw not in (spec.choices or ()):
            raise FieldError("not_in_list", choices=spec.choices)
        return raw
    if spec.kind == BOOLEAN:
        if raw not in BOOLEAN_VALUES:
            raise FieldError("not_boolean")
        return raw == "1"
    if spec.kind == INTEGER:
        if not _INTEGER.fullmatch(raw):
            raise FieldError("not_integer")
        return _in_range(spec, int(raw))
    if spec.kind == DECIMAL:
        if not re.fullmatch(spec.decimal_pattern(), raw):
            raise FieldError("not_decimal", scale=spec.scale)
        try:
            return _in_range(spec, Decimal(raw))
        except InvalidOperation as exc:  # pragma: no cover - the pattern admits only numbers
            raise FieldError("not_decimal", scale=spec.scale) from exc
    if spec.kind == DATE:
        if not _DATE.fullmatch(raw):
            raise FieldError("not_date")
        try:
            value = date.fromisoformat(raw)
        except ValueError as exc:
            raise FieldError("not_date") from exc
        if not EARLIEST_DATE <= value <= today:
            raise FieldError("date_out_of_range", today=today.isoformat())
        return value
    if spec.kind == NATIONAL_ID:
        value = raw.strip(ID_PADDING)
        try:
            parsed = ids.parse_national_id(value, today=today)
        except ids.InvalidId as exc:
            raise FieldError("national_id", reason=str(exc)) from exc
        if parsed.number != value.upper():  # ids.parse forgives more padding than the screen does
            raise FieldError("national_id", reason="characters other than the 18 of the number")
        return parsed
    if spec.kind == ICD10:
        if not _ICD10.fullmatch(raw):
            raise FieldError("not_icd10")
        return raw
    raise AssertionError(f"unknown kind {spec.kind}")


def _in_range(spec: Spec, value: Any) -> Any:
    too_low = spec.minimum is not None and (
        value <= spec.minimum if spec.exclusive_minimum else value < spec.minimum)
    if too_low or (spec.maximum is not None and value > spec.maximum):
        raise FieldError("out_of_range", minimum=spec.minimum, maximum=spec.maximum)
    return value


class SpecField(fields.Field):
    """A marshmallow field whose whole behaviour comes from its Spec."""

    def __init__(self, spec: Spec) -> None:
        super().__init__(allow_none=True,
                         metadata={"spec": spec, "description": spec.description})
        self.spec = spec

    def deserialize(self, value: Any, attr: str | None = None, data: Any = None, **kwargs: Any) -> Any:
        # empty, missing and null are all "no value"; the spec decides whether that is allowed
        raw = None if value is fields.missing_ else value
        today = getattr(self.parent, "today", None) or date.today()
        return parse_value(self.spec, raw, today)


# --- the vectorised side -------------------------------------------------------------

_PROVINCES = sorted(ids._PROVINCE_CODES)  # noqa: SLF001 - one list of province codes
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def normalised(spec: Spec, column: str) -> pl.Expr:
    """The column as the checks see it and as it is loaded: codes and numbers trimmed of
    ``PADDING``, as ``parse_value`` trims them, and a value that was only spaces empty."""
    col = pl.col(column).cast(pl.String)
    if not spec.trimmed:
        return col
    trimmed = col.str.strip_chars(PADDING)
    return pl.when(trimmed == "").then(None).otherwise(trimmed).alias(column)


def padded(column: str) -> pl.Expr:
    """True where a value starts or ends with ``PADDING`` (byte comparisons: no copy)."""
    col = pl.col(column)
    return pl.any_horizontal([col.str.starts_with(p) | col.str.ends_with(p) for p in PADDING]).fill_null(False)


def bad_value(spec: Spec, column: str, today: date) -> pl.Expr:
    """True where the column's value (``normalised``) breaks the spec (null means empty)."""
    col = pl.col(column)
    empty = col.is_null() | (col == "")
    if spec.required:
        missing_bad = empty
    else:
        missing_bad = pl.lit(False)
    present = ~empty
    return (missing_bad | (present & (col.str.contains("\ufffd", literal=True) | _bad_present(spec, col, today)))).fill_null(True)


def _bad_present(spec: Spec, col: pl.Expr, today: date) -> pl.Expr:
    if spec.kind == TEXT:
        return col.str.len_chars() > (spec.max_length or 0)
    if spec.kind == CODE:
        return ~col.is_in(list(spec.choices or ()))
    if spec.kind == BOOLEAN:
        return ~col.is_in(list(BOOLEAN_VALUES))
    if spec.kind == INTEGER:
        number = col.cast(pl.Int64, strict=False)
        return ~col.str.contains(INTEGER_PATTERN) | _out_of_range(spec, number)
    if spec.kind == DECIMAL:
        number = col.cast(pl.Float64, strict=False)
        return ~col.str.contains(spec.decimal_pattern()) | _out_of_range(spec, number)
    if spec.kind == DATE:
        value = col.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
        return (~col.str.contains(DATE_PATTERN) | value.is_null()
                | (value < EARLIEST_DATE) | (value > today))
    if spec.kind == NATIONAL_ID:
        return _bad_national_id(col, today)
    if spec.kind == ICD10:
        return ~col.str.contains(ICD10_PATTERN)
    raise AssertionError(f"unknown kind {spec.kind}")


def _out_of_range(spec: Spec, number: pl.Expr) -> pl.Expr:
    bad = number.is_null()
    if spec.minimum is not None:
        low = float(spec.minimum)
        bad = bad | ((number <= low) if spec.exclusive_minimum else (number < low))
    if spec.maximum is not None:
        bad = bad | (number > float(spec.maximum))
    return bad


def _bad_national_id(col: pl.Expr, today: date) -> pl.Expr:
    """The same checks as ncms.ids.parse_national_id, on a whole column."""
    value = col.str.strip_chars(ID_PADDING).str.to_uppercase()
    shape = value.str.contains(r"^[0-9]{17}[0-9X]$")
    birth = value.str.slice(6, 8).str.strptime(pl.Date, "%Y%m%d", strict=False)
    total = pl.sum_horizontal(
        value.str.slice(i, 1).cast(pl.Int32, strict=False) * w for i, w in enumerate(_WEIGHTS))
    expected = pl.lit("10X98765432").str.slice((total % 11).cast(pl.Int64), 1)
    return (~shape | ~value.str.slice(0, 2).is_in(_PROVINCES) | birth.is_null()
            | (birth < date(1880, 1, 1)) | (birth > today)
            | (value.str.slice(17, 1) != expected)).fill_null(True)
