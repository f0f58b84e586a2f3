"""Receipts: what a county is told about each batch, written to its outbox in the spool.

Every text on a receipt is there in Chinese and in English, and no national ID is shown
whole; everything else is shown as sent, so that the county can find the row: by file and
line in a package, by ``source_key`` (table and key in its own database) in an extract.
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ncms.exchange.messages import mask_ids_in_text, shown_value
from ncms.exchange.screen import SOURCE_KEY
from ncms.models import Batch, BatchSource, BatchStatus, RejectedRow

CSV_COLUMNS = ("file", "line", "record_type", "field", "value", "code", "message_zh", "message_en")
ETL_COLUMNS = (*CSV_COLUMNS, "source_key")  # an extract's receipt: where the row is in the county database
# the Chinese of a batch-level error recorded in one language only (before receipts said both)
FAILED_ZH = "省级平台处理本批次时出错，本批次未载入任何数据；数据包已存档，平台将重新载入，县级无需重新上传"
REFUSED_ZH = "数据包被整体拒收（原因代码 {code}）"


def outbox(spool_dir: Path, county_code: str) -> Path:
    return spool_dir / county_code / "outbox"


def write_receipt(session: Session, batch: Batch, spool_dir: Path) -> tuple[Path, Path]:
    """Write ``<name>.json`` (summary) and ``<name>.csv`` (refused rows); each appears atomically."""
    folder = outbox(spool_dir, batch.county_code)
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"receipt-{batch.county_code}-{_sequence(batch)}-batch{batch.id}"
    rows = session.scalars(select(RejectedRow).where(RejectedRow.batch_id == batch.id).order_by(RejectedRow.id))
    extract = batch.source is BatchSource.ETL
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(ETL_COLUMNS if extract else CSV_COLUMNS)
    for row in rows:
        line = [row.file, row.line, row.record_type, row.field, shown_value(row.value, row.field), row.code,
                row.message_zh, row.message_en]
        writer.writerow([*line, mask_ids_in_text((row.record or {}).get(SOURCE_KEY))] if extract else line)
    csv_path = _atomic_write(folder / f"{stem}.csv", buffer.getvalue().encode("utf-8-sig"))
    json_path = _atomic_write(folder / f"{stem}.json", json.dumps(
        summary(batch, csv_path.name), ensure_ascii=False, indent=2).encode("utf-8"))
    return json_path, csv_path


def _sequence(batch: Batch) -> str:
    """The package's own number, as its sender wrote it in the manifest (also when the
    package was refused, if the manifest could be read); an extract has none."""
    if batch.package_seq is not None:
        return f"{batch.package_seq:04d}"
    return "extract" if batch.source is BatchSource.ETL else "unnumbered"


def summary(batch: Batch, rejected_file: str | None = None) -> dict[str, Any]:
    zh, en = error_texts(batch)
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
        "error": en,
        "error_zh": zh,
        "error_en": en,
        "error_code": batch.error_code,
        "same_as_batch": (batch.counts or {}).get("same_as_batch"),
        "rejected_rows_file": rejected_file,
    }


def error_texts(batch: Batch) -> tuple[str | None, str | None]:
    """Why the batch as a whole was refused or failed, in Chinese and English (None, None
    when it was not), national IDs masked."""
    said = (batch.counts or {}).get("error") or {}
    if said.get("zh") and said.get("en"):
        return mask_ids_in_text(said["zh"]), mask_ids_in_text(said["en"])
    if not batch.error:
        return None, None
    zh = FAILED_ZH if batch.status is BatchStatus.FAILED else REFUSED_ZH.format(code=batch.error_code or "?")
    return zh, mask_ids_in_text(batch.error)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _atomic_write(path: Path, data: bytes) -> Path:
    partial = path.with_name(f".{path.name}.part")
    partial.write_bytes(data)
    os.replace(partial, path)
    return path
