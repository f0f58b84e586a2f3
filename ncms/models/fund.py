"""What goes into a county fund (financing) and the rules by which it pays out (the scheme)."""
from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy import CheckConstraint, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, Money, Ratio, TimestampMixin, enum_column
from .enums import ClaimKind, FundingSource, InstitutionLevel


class FundFinancing(TimestampMixin, Base):
    """Money raised (筹资) for a county's pooled fund, by source and month."""

    __tablename__ = "fund_financing"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(ForeignKey("county.code"))
    year: Mapped[int]
    month: Mapped[int]
    source: Mapped[FundingSource] = mapped_column(enum_column(FundingSource, "funding_source"))
    amount: Mapped[Decimal] = mapped_column(Money())
    batch_id: Mapped[int | None]  # the batch that last wrote the row (no constraint: bookkeeping)

    __table_args__ = (
        UniqueConstraint("county_code", "year", "month", "source"),
        CheckConstraint("month BETWEEN 1 AND 12", name="month_range"),
    )


class CompensationScheme(TimestampMixin, Base):
    """A county's compensation scheme (补偿方案) for one year: the annual cap over all care, and
    optionally one over outpatient care alone (门诊统筹年度封顶); the terms per kind of care and
    institution level are its ``levels``. ``referral_required``: a level's ``unreferred_ratio_cut``
    is taken off its ratio for an admission there without a referral.
    """

    __tablename__ = "compensation_scheme"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(ForeignKey("county.code"))
    year: Mapped[int]
    annual_cap: Mapped[Decimal] = mapped_column(Money())
    outpatient_annual_cap: Mapped[Decimal | None] = mapped_column(Money())
    referral_required: Mapped[bool] = mapped_column(default=True)

    county: Mapped["County"] = relationship(back_populates="schemes")  # noqa: F821
    levels: Mapped[list["SchemeLevel"]] = relationship(
        back_populates="scheme", cascade="all, delete-orphan", order_by="SchemeLevel.id"
    )

    __table_args__ = (
        UniqueConstraint("county_code", "year"),
        CheckConstraint("annual_cap > 0", name="cap_positive"),
        CheckConstraint("outpatient_annual_cap > 0", name="outpatient_cap_positive"),
    )

    def level(self, kind: ClaimKind, level: InstitutionLevel) -> "SchemeLevel | None":
        return next((x for x in self.levels if x.kind == kind and x.level == level), None)


class SchemeLevel(Base):
    """Deductible (起付线) and ratio (报销比例) for one kind of care at one institution level; the
    per-visit cap (outpatient, where used) and the ratio points cut from an admission at this
    level without a referral (0: none)."""

    __tablename__ = "scheme_level"

    id: Mapped[int] = mapped_column(primary_key=True)
    scheme_id: Mapped[int] = mapped_column(ForeignKey("compensation_scheme.id", ondelete="CASCADE"))
    kind: Mapped[ClaimKind] = mapped_column(enum_column(ClaimKind, "claim_kind"))
    level: Mapped[InstitutionLevel] = mapped_column(
        enum_column(InstitutionLevel, "institution_level")
    )
    deductible: Mapped[Decimal] = mapped_column(Money())
    ratio: Mapped[Decimal] = mapped_column(Ratio())
    per_visit_cap: Mapped[Decimal | None] = mapped_column(Money())
    unreferred_ratio_cut: Mapped[Decimal] = mapped_column(Ratio(), default=Decimal("0"),
                                                          server_default=sa.text("0"))

    scheme: Mapped[CompensationScheme] = relationship(back_populates="levels")

    __table_args__ = (
        UniqueConstraint("scheme_id", "kind", "level"),
        CheckConstraint("deductible >= 0", name="deductible_positive"),
        CheckConstraint("ratio > 0 AND ratio <= 1", name="ratio_range"),
        CheckConstraint("unreferred_ratio_cut >= 0 AND unreferred_ratio_cut <= 1", name="cut_range"),
    )
