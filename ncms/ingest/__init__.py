"""Ingestion: every source (gateway package, ETL extract, API upload) through one path."""
from .pipeline import IngestResult, ingest_package

__all__ = ["IngestResult", "ingest_package"]
