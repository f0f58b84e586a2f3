"""Summary tables the indicators read instead of the claims (docs/indicators.md): kept by
ingestion (claims and enrolments, for the (county, month) keys a batch touched) and by
monitoring (findings, rebuilt whole at the end of a run, each claim's money counted once).

They hold only what adds up: counts and sums. Every ratio is computed from them when asked,
for a county or for any set of counties, so that the province's rate is recomputed from its
sums, never averaged over counties."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, Money, UTCDateTime, enum_column, utcnow
from .enums import ClaimKind, InstitutionLevel


class CountyMonth(Base):
    """A county's claims settled in one month (the settlement date decides), per kind of care
    and institution level. ``claims`` and the money leave voided claims out; ``voided`` counts
    them, so that ``claims + voided`` over a county's rows is every claim row of the county (how
    an incremental refresh checks that no claim moved into a month it did not recompute)."""

    __tablename__ = "county_month_summary"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(String(6))
    year: Mapped[int]
    month: Mapped[int]
    kind: Mapped[ClaimKind] = mapped_column(enum_column(ClaimKind, "claim_kind"))
    level: Mapped[InstitutionLevel] = mapped_column(enum_column(InstitutionLevel, "institution_level"))
    claims: Mapped[int]  # visits or stays (人次)
    compensated_claims: Mapped[int]  # those with compensation above nothing (补偿人次)
    voided: Mapped[int]
    out_of_county: Mapped[int]  # at an institution sited outside the member's county
    referred: Mapped[int]
    bed_days: Mapped[int]  # stays: days from admission to discharge, at least 1
    total_amount: Mapped[Decimal] = mapped_column(Money())
    eligible_amount: Mapped[Decimal] = mapped_column(Money())
    compensated_amount: Mapped[Decimal] = mapped_column(Money())
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("county_code", "year", "month", "kind", "level"),)


class CountyYear(Base):
    """A county's enrolment (参合) of one year: members, their households, contributions."""

    __tablename__ = "county_year_enrolment"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(String(6))
    year: Mapped[int]
    members: Mapped[int]
    households: Mapped[int]
    contributions: Mapped[Decimal] = mapped_column(Money())
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("county_code", "year"),)


class FindingMonth(Base):
    """Findings of one county, rule and institution (NULL: none named) about one month of care
    (the month of the finding's period start, else of its raising): how many, by where their
    review stands, and the money at stake of those that still hold, each claim's once
    (``ncms.monitor.stake.counted`` over every holding finding of the province). The fund
    warnings are not here: they are figures of a fund, read from their findings."""

    __tablename__ = "finding_month_summary"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(String(6))
    year: Mapped[int]
    month: Mapped[int]
    rule_code: Mapped[str] = mapped_column(String(64))
    institution_id: Mapped[int | None]
    findings: Mapped[int]  # every status
    undecided: Mapped[int]  # open, sent to the county, answered by it
    confirmed: Mapped[int]
    dismissed: Mapped[int]
    closed: Mapped[int]  # no longer hold
    amount: Mapped[Decimal] = mapped_column(Money())  # the holding findings' own amounts
    money_at_stake: Mapped[Decimal] = mapped_column(Money())  # the same, each claim's money once
    confirmed_money: Mapped[Decimal] = mapped_column(Money())  # money at stake of the confirmed
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_finding_month_summary_county_year", "county_code", "year", "month"),)
