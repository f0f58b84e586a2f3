"""Runs of the reports published to the ministry."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime, enum_column, utcnow
from .enums import ReportStatus


class ReportRun(Base):
    """One generation of one report for one period (and county, or the whole province)."""

    __tablename__ = "report_run"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))  # e.g. "monthly_statistics"
    period_start: Mapped[date]
    period_end: Mapped[date]
    county_code: Mapped[str | None] = mapped_column(ForeignKey("county.code"))
    status: Mapped[ReportStatus] = mapped_column(
        enum_column(ReportStatus, "report_status"), default=ReportStatus.RUNNING
    )
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outputs: Mapped[dict | None] = mapped_column(JSON)  # file name -> sha256
    error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("kind", "period_start", "period_end", "county_code"),)
