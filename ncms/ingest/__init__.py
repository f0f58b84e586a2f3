"""Ingestion: every source (gateway package, ETL extract, API upload) through one path."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ncms import lazy_exports

if TYPE_CHECKING:
    from .pipeline import IngestResult, ingest_package

__all__ = ["IngestResult", "ingest_package"]
__getattr__ = lazy_exports(__name__, {"IngestResult": ".pipeline", "ingest_package": ".pipeline"})
