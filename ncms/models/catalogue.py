"""The provincial price catalogue and the restriction lists the rules check claims against."""
from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Money, TimestampMixin, enum_column
from .enums import ItemCategory, RestrictionKind, Sex


class CatalogueItem(TimestampMixin, Base):
    """An item of the provincial price catalogue: its ceiling price and whether NCMS covers it."""

    __tablename__ = "catalogue_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    category: Mapped[ItemCategory] = mapped_column(enum_column(ItemCategory, "item_category"))
    unit: Mapped[str | None] = mapped_column(String(16))
    price: Mapped[Decimal] = mapped_column(Money())
    covered: Mapped[bool] = mapped_column(default=True)

    __table_args__ = (CheckConstraint("price >= 0", name="price_positive"),)


class Restriction(TimestampMixin, Base):
    """Who may receive an item or carry a diagnosis (限性别 / 限年龄).

    For diagnoses ``code`` may be an ICD-10 prefix ("O" is the whole pregnancy chapter).
    """

    __tablename__ = "restriction"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[RestrictionKind] = mapped_column(enum_column(RestrictionKind, "restriction_kind"))
    code: Mapped[str] = mapped_column(String(32))
    allowed_sex: Mapped[Sex | None] = mapped_column(enum_column(Sex, "sex"))
    min_age: Mapped[int | None]
    max_age: Mapped[int | None]
    note: Mapped[str | None] = mapped_column(String(255))

    __table_args__ = (
        UniqueConstraint("kind", "code"),
        CheckConstraint(
            "min_age IS NULL OR max_age IS NULL OR min_age <= max_age", name="age_bounds"
        ),
        CheckConstraint(
            "allowed_sex IS NOT NULL OR min_age IS NOT NULL OR max_age IS NOT NULL",
            name="restricts_something",
        ),
    )
