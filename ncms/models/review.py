"""Findings (疑点) raised by rules and the anomaly model, and their review history."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, Money, UTCDateTime, enum_column, utcnow
from .enums import AnswerKind, ExceptionSubject, FindingEventKind, FindingStatus, Severity


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
    # the review loop (ncms.review, docs/review.md); ``version`` grows by one at every change of
    # status or of these fields, so that two people deciding at once cannot both win
    version: Mapped[int] = mapped_column(default=1, server_default=sa.text("1"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # first pushed to the county
    due_on: Mapped[date | None]  # the county's answer is due by the end of this day
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # the county's last answer
    send_backs: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    amount_to_recover: Mapped[Decimal | None] = mapped_column(Money())  # 应追回金额, when determined
    amount_recovered: Mapped[Decimal] = mapped_column(Money(), default=Decimal("0"),
                                                      server_default=sa.text("0"))  # 已追回
    # a rerun found it no longer holds while the county had it: kept, marked, never closed
    stopped_holding_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    events: Mapped[list["FindingEvent"]] = relationship(
        back_populates="finding", cascade="all, delete-orphan", order_by="FindingEvent.id"
    )

    __table_args__ = (
        UniqueConstraint("rule_code", "subject_key"),
        Index("ix_finding_county_status", "county_code", "status"),
        Index("ix_finding_claim_id", "claim_id"),  # a claim's findings (the claim page)
        Index("ix_finding_institution_id", "institution_id"),  # an institution's (its page)
        Index("ix_finding_status_due_on", "status", "due_on"),  # the county inbox, overdue counts
        Index("ix_finding_assignee_id", "assignee_id"),  # the workbench's "mine"
        Index("ix_finding_first_seen_at", "first_seen_at", "id"),  # the workbench's pages by age (0018)
        Index("ix_finding_amount_at_stake", "amount_at_stake", "id"),  # … by money at stake
        Index("ix_finding_rule_code_id", "rule_code", "id"),  # … by rule, county, severity, due day (0019)
        Index("ix_finding_county_code_id", "county_code", "id"),
        Index("ix_finding_severity_id", "severity", "id"),
        Index("ix_finding_due_on_id", "due_on", "id"),
        # the workbench's counts per status and a page's ids under any filter and sort but the
        # period's, read from this narrow index alone (index-only), not from the table's wide rows
        Index("ix_finding_workbench", "status", "severity", "county_code", "rule_code", "amount_at_stake",
              "first_seen_at", "assignee_id", "due_on", "institution_id", "id"),
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
    amount: Mapped[Decimal | None] = mapped_column(Money())  # determined: to recover; recovered: this payment
    due_on: Mapped[date | None]  # pushed or sent back: the answer's deadline
    answer_kind: Mapped[AnswerKind | None] = mapped_column(enum_column(AnswerKind, "answer_kind"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))  # assigned: to whom

    finding: Mapped[Finding] = relationship(back_populates="events")
    attachments: Mapped[list["FindingAttachment"]] = relationship(
        back_populates="event", order_by="FindingAttachment.id")


class FindingAttachment(Base):
    """A file a county officer (or an auditor) added to a step of a finding: stored once by its
    SHA-256 under the data folder (``attachments/ab/abcdef…``), never executed, always served as
    a download."""

    __tablename__ = "finding_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("finding_event.id", ondelete="CASCADE"), index=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("finding.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(255))  # as sent, path parts removed
    media_type: Mapped[str] = mapped_column(String(128))  # as found in the content, not as named
    size: Mapped[int]
    uploaded_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    event: Mapped[FindingEvent] = relationship(back_populates="attachments")


class RuleException(Base):
    """Findings of ``rule_code`` about this subject are not raised until ``expires_on`` (an
    accepted practice, decided while dismissing a finding): the runs honour it and count what
    they passed over (``rule_run.excepted``). Revoked, it is kept with who and why."""

    __tablename__ = "rule_exception"

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_code: Mapped[str] = mapped_column(String(64))
    subject_kind: Mapped[ExceptionSubject] = mapped_column(enum_column(ExceptionSubject, "exception_subject"))
    subject_code: Mapped[str] = mapped_column(String(64))
    county_code: Mapped[str | None] = mapped_column(ForeignKey("county.code"))  # None: every county
    reason: Mapped[str] = mapped_column(Text)
    expires_on: Mapped[date]
    finding_id: Mapped[int | None] = mapped_column(ForeignKey("finding.id", ondelete="SET NULL"))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    revoke_reason: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_rule_exception_rule_code", "rule_code", "subject_kind"),)


class SavedFilter(Base):
    """A workbench filter a user named, kept as its query string."""

    __tablename__ = "saved_filter"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("user_id", "name"),)


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
    excepted: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))  # hits a rule exception passed over


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
