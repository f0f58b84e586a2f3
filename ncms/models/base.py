"""Declarative base, naming convention and the column types every model shares."""
from __future__ import annotations

import enum
from datetime import datetime, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names make Alembic migrations reproducible on every dialect.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}



def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_money(value: Any) -> Decimal:
    """Coerce to a Decimal of whole fen; floats are refused because they are how money goes wrong."""
    return Money().coerce(value)


class FixedDecimal(TypeDecorator):
    """NUMERIC(p, s) on every database, an exact Decimal in Python, floats refused.

    SQLite has no decimal storage and keeps NUMERIC values as 8-byte floats, which hold
    any value of up to 15 significant digits exactly enough to round back to the same
    decimal. We do that conversion here, explicitly, instead of letting the driver guess.
    """

    impl = sa.Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int) -> None:
        super().__init__(precision, scale)
        self.precision = precision
        self.scale = scale
        self.quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine:
        asdecimal = dialect.name != "sqlite"
        return dialect.type_descriptor(sa.Numeric(self.precision, self.scale, asdecimal=asdecimal))

    def coerce(self, value: Any) -> Decimal:
        if isinstance(value, float):
            raise TypeError(f"exact decimal expected (Decimal, int or str), not float {value!r}")
        try:
            number = Decimal(value)
        except (InvalidOperation, TypeError) as exc:
            raise ValueError(f"not a decimal number: {value!r}") from exc
        if not number.is_finite():
            raise ValueError(f"not a decimal number: {value!r}")
        return number.quantize(self.quantum, rounding=ROUND_HALF_UP)

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        number = self.coerce(value)
        return float(number) if dialect.name == "sqlite" else number

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            return value.quantize(self.quantum, rounding=ROUND_HALF_UP)
        return Decimal(f"{value:.{self.scale}f}")


class Money(FixedDecimal):
    """Yuan with two decimals (NUMERIC(14,2)): never a float, anywhere."""

    cache_ok = True

    def __init__(self) -> None:
        super().__init__(14, 2)


class Ratio(FixedDecimal):
    """A share between 0 and 1, four decimals (a reimbursement ratio)."""

    cache_ok = True

    def __init__(self) -> None:
        super().__init__(5, 4)


class Quantity(FixedDecimal):
    """A billed quantity, three decimals (half a box, 0.5 day)."""

    cache_ok = True

    def __init__(self) -> None:
        super().__init__(12, 3)


class UTCDateTime(TypeDecorator):
    """Timestamps are stored in UTC and always come back timezone-aware, also from SQLite."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass a timezone-aware value")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value


def enum_column(enum_cls: type[enum.Enum], name: str) -> sa.Enum:
    """A portable enumeration: VARCHAR plus a CHECK constraint, storing the member's value."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(m.value) for m in enum_cls),
        values_callable=lambda cls: [m.value for m in cls],
        validate_strings=True,
    )


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
