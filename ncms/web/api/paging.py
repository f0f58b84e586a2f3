"""Cursor pagination: a page is the rows after the last one of the previous page in a stable
order (a sort column, then the id in the same direction), so rows that arrive meanwhile never
shift a page (no row is skipped or given twice, as an offset would). The cursor is opaque to
clients: URL-safe base64 of the sort, the direction and the last row's key."""
from __future__ import annotations

import base64
import binascii
import json
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

import sqlalchemy as sa

from . import abort

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def encode(sort: str, descending: bool, value: Any, ident: int) -> str:
    raw = json.dumps([sort, descending, _plain(value), ident], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str, sort: str, descending: bool, kind: str, nullable: bool = False) -> tuple[Any, int]:
    """The key of the last row of the previous page; 400 for a cursor not made for this sort.
    A ``nullable`` sort's key may be null (JSON null): the last row was among the empty ones."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        said_sort, said_desc, value, ident = json.loads(raw)
        if said_sort != sort or said_desc != descending or not isinstance(ident, int) or not 0 < ident < 2**63:
            raise ValueError
        if value is None:
            if not nullable:
                raise ValueError
        elif kind == "datetime":
            value = datetime.fromisoformat(value)
        elif kind == "date":
            value = date.fromisoformat(value)
        elif kind == "decimal":
            value = Decimal(value)
            if not value.is_finite():
                raise ValueError
        elif kind == "int":
            if not isinstance(value, int):
                raise ValueError
        elif not isinstance(value, str):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
        abort(400, "The cursor is not one this list gave for this sort: start again without it.",
              {"cursor": ["not a cursor of this list and sort"]})
    return value, ident


def after(column: Any, id_column: Any, descending: bool, value: Any, ident: int,
          nullable: bool = False) -> sa.ColumnElement[bool]:
    """Rows after (value, ident) in the order (column, id) both descending or both ascending,
    a ``nullable`` column's empty rows last in either direction (``order``)."""
    if column is id_column:
        return id_column < ident if descending else id_column > ident
    beyond = id_column < ident if descending else id_column > ident
    if nullable and value is None:  # among the empty ones, which come last: by the id alone
        return sa.and_(column.is_(None), beyond)
    rest = sa.or_(column < value if descending else column > value, sa.and_(column == value, beyond))
    return sa.or_(rest, column.is_(None)) if nullable else rest


def order(column: Any, id_column: Any, descending: bool, nullable: bool = False) -> list[Any]:
    """The sort column then the id, in one direction; a ``nullable`` column's empty rows last
    either way, said as NULLS LAST so that SQLite and PostgreSQL order alike (PostgreSQL would
    put them first when descending)."""
    if column is id_column:
        return [id_column.desc() if descending else id_column.asc()]
    ordered = column.desc() if descending else column.asc()
    if nullable:
        ordered = ordered.nulls_last()
    return [ordered, id_column.desc() if descending else id_column.asc()]
