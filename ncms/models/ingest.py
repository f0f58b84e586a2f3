"""Bookkeeping of what arrived: one batch per package or extract, every row refused, and how
far each county database has been extracted."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, UTCDateTime, enum_column, utcnow
from .enums import BatchSource, BatchStatus


class Batch(Base):
    """A data package or an ETL extract, from arrival to receipt.

    ``sha256`` names the archived raw file, so any batch can be replayed.
    """

    __tablename__ = "batch"

    id: Mapped[int] = mapped_column(primary_key=True)
    county_code: Mapped[str] = mapped_column(ForeignKey("county.code"))
    source: Mapped[BatchSource] = mapped_column(enum_column(BatchSource, "batch_source"))
    status: Mapped[BatchStatus] = mapped_column(
        enum_column(BatchStatus, "batch_status"), default=BatchStatus.RECEIVED
    )
    package_seq: Mapped[int | None]
    filename: Mapped[str | None] = mapped_column(String(255))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    format_version: Mapped[str | None] = mapped_column(String(16))
    period_start: Mapped[date | None]
    period_end: Mapped[date | None]
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rows_read: Mapped[int] = mapped_column(default=0)
    rows_loaded: Mapped[int] = mapped_column(default=0)
    rows_rejected: Mapped[int] = mapped_column(default=0)
    counts: Mapped[dict | None] = mapped_column(JSON)  # per record type: read / loaded / rejected
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[str | None] = mapped_column(String(32))  # why the whole package was refused

    rejected_rows: Mapped[list["RejectedRow"]] = relationship(
        back_populates="batch", cascade="all, delete-orphan", order_by="RejectedRow.id"
    )

    __table_args__ = (Index("ix_batch_county_seq", "county_code", "package_seq"),)


class RejectedRow(Base):
    """A row that failed validation, kept with its error and sent back on the receipt."""

    __tablename__ = "rejected_row"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id", ondelete="CASCADE"), index=True)
    record_type: Mapped[str] = mapped_column(String(32))
    file: Mapped[str | None] = mapped_column(String(255))
    line: Mapped[int | None]
    field: Mapped[str | None] = mapped_column(String(64))
    value: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str] = mapped_column(String(32))  # why, as a machine code (messages.TEMPLATES)
    message_zh: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str] = mapped_column(Text)
    record: Mapped[dict | None] = mapped_column(JSON)

    batch: Mapped[Batch] = relationship(back_populates="rejected_rows")


class Watermark(Base):
    """How far one stream of a county database has been extracted and loaded (ETL).

    ``value`` is the source's watermark column (update time or monotonic id) as text, as the
    county database returned it; it moves only after the batch that reached it has loaded.
    """

    __tablename__ = "etl_watermark"

    county_code: Mapped[str] = mapped_column(ForeignKey("county.code"), primary_key=True)
    stream: Mapped[str] = mapped_column(String(32), primary_key=True)  # member, enrolment, claim, financing
    value: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batch.id", ondelete="SET NULL"))
    source_rows: Mapped[int | None] = mapped_column(BigInteger)  # sequence streams: rows at or below value then
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
