"""Findings (疑点) raised by rules and the anomaly model, and their review history."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, Money, UTCDateTime, enum_column, utcnow
from .enums import FindingEventKind, FindingStatus, Severity


class Finding(Base):
    """One rule (or the anomaly model) holding for one subject.

    ``subject_key`` identifies what the finding is about ("claim:520121:A0001",
    "member:520121:M42", "institution:520121200001:2011-03"), so a rerun updates the
    finding instead of raising a second one. ``rule_version`` and ``parameters``
    record exactly why it was raised.
    """

    __tablename__ = "finding"

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_code: Mapped[str] = mapped_column(String(64))
    rule_version: Mapped[str] = mapped_column(String(32))
    subject_key: Mapped[str] = mapped_column(String(128))
    county_code: Mapped[str] = mapped_column(ForeignKey("county.code"))
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claim.id", ondelete="SET NULL"))
    institution_id: Mapped[int | None] = mapped_column(ForeignKey("institution.id"))
    severity: Mapped[Severity] = mapped_column(enum_column(Severity, "severity"))
    status: Mapped[FindingStatus] = mapped_column(
        enum_column(FindingStatus, "finding_status"), default=FindingStatus.OPEN
    )
    amount_at_stake: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"))
    parameters: Mapped[dict | None] = mapped_column(JSON)
    evidence: Mapped[dict | None] = mapped_column(JSON)
    period_start: Mapped[date | None]
    period_end: Mapped[date | None]
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_reason: Mapped[str | None] = mapped_column(Text)

    events: Mapped[list["FindingEvent"]] = relationship(
        back_populates="finding", cascade="all, delete-orphan", order_by="FindingEvent.id"
    )

    __table_args__ = (
        UniqueConstraint("rule_code", "subject_key"),
        Index("ix_finding_county_status", "county_code", "status"),
        Index("ix_finding_claim_id", "claim_id"),  # a claim's findings (the claim page)
        Index("ix_finding_institution_id", "institution_id"),  # an institution's (its page)
    )


class FindingEvent(Base):
    """A step in a finding's life: raised, updated, commented, answered by the county, decided."""

    __tablename__ = "finding_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("finding.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    kind: Mapped[FindingEventKind] = mapped_column(enum_column(FindingEventKind, "finding_event_kind"))
    from_status: Mapped[FindingStatus | None] = mapped_column(enum_column(FindingStatus, "from_status"))
    to_status: Mapped[FindingStatus | None] = mapped_column(enum_column(FindingStatus, "to_status"))
    text: Mapped[str | None] = mapped_column(Text)

    finding: Mapped[Finding] = relationship(back_populates="events")


class RuleRun(Base):
    """One rule run over one county's claims: what it judged, what it could not, what it found,
    how long it took.

    ``rows_scanned``: the claims of the county (and period; an incremental run: of the people
    it re-examined) that the rule judged — read and held against its logic, voided claims
    passed over included. ``unchecked``: those it read but could not judge (no scheme terms for
    the claim's year, kind of care and level; an item the price catalogue lacks), with
    ``unchecked_reasons`` counting them by reason ({reason: claims}). A claim is one or the
    other, so ``rows_scanned + unchecked`` is every claim the rule read."""

    __tablename__ = "rule_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[str] = mapped_column(String(32), index=True)  # the `ncms monitor run` it belonged to
    rule_code: Mapped[str] = mapped_column(String(64))
    rule_version: Mapped[str] = mapped_column(String(32))
    county_code: Mapped[str] = mapped_column(ForeignKey("county.code"))
    period_start: Mapped[date | None]
    period_end: Mapped[date | None]
    parameters: Mapped[dict | None] = mapped_column(JSON)
    rows_scanned: Mapped[int] = mapped_column(default=0)
    unchecked: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    unchecked_reasons: Mapped[dict | None] = mapped_column(JSON)
    hits: Mapped[int] = mapped_column(default=0)
    raised: Mapped[int] = mapped_column(default=0)
    closed: Mapped[int] = mapped_column(default=0)
    seconds: Mapped[float] = mapped_column(default=0.0)  # a rule runs once for its counties: the time shared evenly
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # the highest batch id loaded when the run began: an incremental run reads what came after
    through_batch: Mapped[int | None]
    incremental: Mapped[bool] = mapped_column(default=False, server_default=sa.false())


class MonitorScope(Base):
    """The people (national IDs) an incremental ``ncms monitor run`` re-examines: those with a
    claim, member or enrolment row loaded since the last run. Rows live for one run."""

    __tablename__ = "monitor_scope"

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    national_id: Mapped[str] = mapped_column(String(18), primary_key=True)


class MonitorScopeClaim(Base):
    """All the claims of those people, picked out once per run: the rules then read them by id
    (claims carry no index by person; keeping one cost a tenth of a bulk load)."""

    __tablename__ = "monitor_scope_claim"

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    claim_id: Mapped[int] = mapped_column(primary_key=True)
