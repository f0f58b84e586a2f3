"""Features of institutions per month (the anomaly model's input) and of members per year,
stored for the web UI."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Money, UTCDateTime, enum_column, utcnow
from .enums import InstitutionLevel


class InstitutionMonth(Base):
    """One institution's claims of one month (by date of care), summed up as the features its
    peers are compared on, and the scores the anomaly model gave it.

    A feature is NULL where it has no meaning (no stay that month: no length of stay; the first
    month: no growth). The scores are NULL where the month was not scored (too few claims, too
    few peers)."""

    __tablename__ = "institution_month"

    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institution.id"))
    county_code: Mapped[str] = mapped_column(ForeignKey("county.code"))  # the institution's county
    level: Mapped[InstitutionLevel] = mapped_column(enum_column(InstitutionLevel, "institution_level"))
    year: Mapped[int]
    month: Mapped[int]  # the window's first month
    # a thin institution (a township centre's 10-40 stays a year) is judged over a longer window
    time_window: Mapped[str] = mapped_column(String(8), default="month", server_default="month")  # or quarter, year
    months: Mapped[int] = mapped_column(default=1, server_default="1")  # months the window spans
    cases: Mapped[int]
    stays: Mapped[int]
    visits: Mapped[int] = mapped_column(default=0, server_default="0")  # outpatient
    total_amount: Mapped[Decimal] = mapped_column(Money())
    compensated_amount: Mapped[Decimal] = mapped_column(Money())
    cost_per_case: Mapped[float | None]  # (shown; the model scores the cost per visit and per stay)
    cost_per_visit: Mapped[float | None]
    cost_per_stay: Mapped[float | None]
    length_of_stay: Mapped[float | None]
    drug_share: Mapped[float | None]
    exam_share: Mapped[float | None]
    readmission_rate: Mapped[float | None]
    under_cap_share: Mapped[float | None]
    compensation_ratio: Mapped[float | None]
    growth: Mapped[float | None]
    out_of_county_share: Mapped[float | None]
    diagnosis_concentration: Mapped[float | None]
    short_cheap_share: Mapped[float | None]
    long_cheap_share: Mapped[float | None]
    cost_per_bed_day: Mapped[float | None]
    admissions_per_member: Mapped[float | None]
    admissions_per_visit: Mapped[float | None]
    robust_score: Mapped[float | None]  # the mean of its three largest robust z-scores
    model_score: Mapped[float | None]  # the multivariate model's score, 1 at its own boundary of unusual
    score: Mapped[float | None]  # the two combined: 1 and above is flagged
    model_version: Mapped[str | None] = mapped_column(String(32))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("institution_id", "year", "month"),)


class MemberYear(Base):
    """One member's claims of one year of care, summed up: how much care, where, at what cost.
    Computed with the institutions' months (``ncms monitor run``), in the database in one
    statement; no model scores them yet."""

    __tablename__ = "member_year"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(String(6))  # the member's county (of the claims)
    member_no: Mapped[str] = mapped_column(String(32))
    year: Mapped[int]
    claims: Mapped[int]
    stays: Mapped[int]
    stay_days: Mapped[int]
    institutions: Mapped[int]  # distinct institutions visited
    out_of_county: Mapped[int]  # claims at institutions of other counties or beyond
    total_amount: Mapped[Decimal] = mapped_column(Money())
    compensated_amount: Mapped[Decimal] = mapped_column(Money())
    largest_claim: Mapped[Decimal] = mapped_column(Money())
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("member_no", "county_code", "year"),)
