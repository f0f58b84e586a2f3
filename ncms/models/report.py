"""The reports built for the ministry (each revision of each one) and every time one was sent.

A report is a kind (monthly, quarterly, annual), a period, the province or one county, and a
language. Building it again makes a new *revision*, which supersedes the one before: the
ministry is told so in the new package's manifest (docs/reports.md). Every push of a package to
the ministry's SFTP endpoint is a ``ReportSend``: when, which checksum, what came of it.
"""
from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, enum_column, utcnow
from .enums import ReportStatus

PROVINCE_SCOPE = "province"  # ``ReportRun.scope`` of a report of the whole province


class SendOutcome(str, enum.Enum):
    SENDING = "sending"  # begun; a process that died mid-push leaves it so (the next push resumes)
    SENT = "sent"  # uploaded and the checksum read back from the server matched
    ALREADY_SENT = "already_sent"  # the server already held the whole package (same checksum): nothing sent
    FAILED = "failed"  # not delivered: see ``error``; retried from ``retry_at``


class ReportRun(Base):
    """One revision of one report: its files, under ``folder`` of the reports folder, and its
    package (``package``, a ZIP of them with ``manifest.json``) as the ministry receives it."""

    __tablename__ = "report_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))  # monthly, quarterly, annual
    period_start: Mapped[date]
    period_end: Mapped[date]
    county_code: Mapped[str | None] = mapped_column(ForeignKey("county.code"))
    scope: Mapped[str] = mapped_column(String(16), server_default=PROVINCE_SCOPE)  # "province" or the county
    lang: Mapped[str] = mapped_column(String(8), server_default="zh")
    revision: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("report_run.id"))
    status: Mapped[ReportStatus] = mapped_column(
        enum_column(ReportStatus, "report_status"), default=ReportStatus.RUNNING
    )
    requested_by: Mapped[str | None] = mapped_column(String(64))  # a user name, "cli" or "scheduler"
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # its first verified send
    folder: Mapped[str | None] = mapped_column(String(255))  # relative to the reports folder
    package: Mapped[str | None] = mapped_column(String(128))  # the ZIP's name, in ``folder``
    package_sha256: Mapped[str | None] = mapped_column(String(64))
    package_bytes: Mapped[int | None] = mapped_column(BigInteger)
    outputs: Mapped[dict | None] = mapped_column(JSON)  # file name -> sha256
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("kind", "period_start", "period_end", "scope", "lang", "revision"),)


class ReportSend(Base):
    """One push of a report's package to the ministry (a retry is a new row, ``attempt`` + 1)."""

    __tablename__ = "report_send"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("report_run.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)  # 1 for the run's first send, then 2, 3...
    endpoint: Mapped[str] = mapped_column(String(255))  # user@host:port/folder
    remote_path: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))  # the package's, as sent
    verified_sha256: Mapped[str | None] = mapped_column(String(64))  # as read back from the server
    outcome: Mapped[SendOutcome] = mapped_column(enum_column(SendOutcome, "report_send_outcome"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    bytes_sent: Mapped[int] = mapped_column(BigInteger, default=0)
    resumed_from: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes the server held when the last connection began
    connections: Mapped[int] = mapped_column(Integer, default=0)  # connections the push took (its retries)
    requested_by: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # a failed send: when to try again

    __table_args__ = (UniqueConstraint("run_id", "attempt"), Index("ix_report_send_outcome", "outcome"))
