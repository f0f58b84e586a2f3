"""Receipts: what a county is told about each batch, written to its outbox in the spool."""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ncms.exchange.messages import shown_value
from ncms.models import Batch, RejectedRow

CSV_COLUMNS = ("file", "line", "record_type", "field", "value", "code", "message_zh", "message_en")


def outbox(spool_dir: Path, county_code: str) -> Path:
    return spool_dir / county_code / "outbox"


def write_receipt(session: Session, batch: Batch, spool_dir: Path) -> tuple[Path, Path]:
    """Write ``<name>.json`` (summary) and ``<name>.csv`` (refused rows); each appears atomically."""
    folder = outbox(spool_dir, batch.county_code)
    folder.mkdir(parents=True, exist_ok=True)
    seq = f"{batch.package_seq:04d}" if batch.package_seq is not None else "extract"
    stem = f"receipt-{batch.county_code}-{seq}-batch{batch.id}"
    rows = session.scalars(select(RejectedRow).where(RejectedRow.batch_id == batch.id).order_by(RejectedRow.id))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow([row.file, row.line, row.record_type, row.field, shown_value(row.value, row.field), row.code,
                         row.message_zh, row.message_en])
    csv_path = _atomic_write(folder / f"{stem}.csv", buffer.getvalue().encode("utf-8-sig"))
    json_path = _atomic_write(folder / f"{stem}.json", json.dumps(
        summary(batch, csv_path.name), ensure_ascii=False, indent=2).encode("utf-8"))
    return json_path, csv_path


def summary(batch: Batch, rejected_file: str | None = None) -> dict[str, Any]:
    return {
        "batch": batch.id,
        "county_code": batch.county_code,
        "sequence": batch.package_seq,
        "file": batch.filename,
        "sha256": batch.sha256,
        "period": {"start": _iso(batch.period_start), "end": _iso(batch.period_end)},
        "status": batch.status.value,
        "received_at": _iso(batch.received_at),
        "finished_at": _iso(batch.finished_at),
        "rows": {"read": batch.rows_read, "loaded": batch.rows_loaded, "rejected": batch.rows_rejected},
        "files": (batch.counts or {}).get("files", {}),
        "error": batch.error,
        "error_code": batch.error_code,
        "rejected_rows_file": rejected_file,
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _atomic_write(path: Path, data: bytes) -> Path:
    partial = path.with_name(f".{path.name}.part")
    partial.write_bytes(data)
    os.replace(partial, path)
    return path
