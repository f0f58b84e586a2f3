"""What the province last received of each source row it compares, per county and stream (ETL)."""
from __future__ import annotations

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base


class ExtractedRow(Base):
    """The key and content hash of one source row as last sent to the province.

    A stream extracted by ``change: compare`` keeps one per source row: the next run sends
    only the rows whose key is new or whose hash changed. A watermark stream keeps those of
    its boundary (the rows at or just below its watermark), so a change committed late at the
    boundary is seen and an unchanged row is not sent twice.
    """

    __tablename__ = "etl_extracted_row"

    county_code: Mapped[str] = mapped_column(ForeignKey("county.code"), primary_key=True)
    stream: Mapped[str] = mapped_column(String(32), primary_key=True)
    source_key: Mapped[str] = mapped_column(String(200), primary_key=True)  # the exchange key's fields, joined
    row_hash: Mapped[str] = mapped_column(String(16))  # BLAKE2b, 8 bytes, of the translated record
