"""Reading one record back out of an archived package or extract, as its county sent it.

The archive keeps every raw file under its SHA-256 (``ncms.ingest.archive``); a batch names
its file by ``sha256``. Only batches that loaded (in full or in part) are read: their package
passed every package-level check (safe member names, sizes, no DTD), so it is read here with
the same guards and nothing more.
"""
from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from defusedxml.ElementTree import iterparse

from ncms.exchange.schemas import RECORD_SCHEMAS
from ncms.exchange.screen import SOURCE_KEY
from ncms.models import Batch

MANIFEST = "manifest.json"
PADDING = " \u3000"  # what the screen trims around codes and numbers
KEY_SEPARATOR = "/"  # a key of several columns: "2024000123/2" (claim_id/line_no)
MAX_MATCHES = 20


@dataclass(frozen=True)
class SourceRow:
    file: str
    line: int  # CSV: the line the record starts on (header = 1); XML: the record's position
    header: list[str]
    values: list[str]


def archived_file(archive_dir: Path, batch: Batch) -> Path | None:
    """The batch's raw file in the archive (content-addressed), or None when it is not there."""
    sha = batch.sha256
    if not sha or len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
        return None
    folder = archive_dir / sha[:2]
    suffix = Path(batch.filename or "").suffix
    named = folder / f"{sha}{suffix}"
    if named.is_file():
        return named
    return next((p for p in sorted(folder.glob(f"{sha}*")) if p.is_file() and not p.name.startswith(".")), None)


def find_rows(path: Path, record_type: str, key: str | None = None, *, file: str | None = None,
              line: int | None = None) -> list[SourceRow]:
    """The records of ``record_type`` in the package at ``path`` whose key is ``key`` (its
    values joined by ``/``), or whose ``_source_key`` (an extract's row in the county
    database) is ``key``; or the record on ``line`` of ``file`` (a refused row's place)."""
    schema = RECORD_SCHEMAS[record_type]
    key = key or ""
    wanted = [part.strip(PADDING) for part in key.split(KEY_SEPARATOR)] if len(schema.key) > 1 \
        else [key.strip(PADDING)]
    if not key or len(wanted) != len(schema.key):
        wanted = []
    found: list[SourceRow] = []
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read(MANIFEST).decode("utf-8-sig"))
        encoding = "utf-8-sig" if str(manifest.get("encoding", "UTF-8")).upper() == "UTF-8" else "gb18030"
        for entry in manifest.get("files", []):
            if entry.get("record_type") != record_type or (file is not None and entry.get("name") != file):
                continue
            rows = _csv_rows if entry.get("format") == "csv" else _xml_rows
            with archive.open(entry["name"]) as raw:
                for at, header, values in rows(raw, encoding, record_type):
                    if line is not None:
                        if at == line:
                            return [SourceRow(entry["name"], at, header, values)]
                        continue
                    record = dict(zip(header, values))
                    keys = [(record.get(name) or "").strip(PADDING) for name in schema.key]
                    if (wanted and keys == wanted) or (key and (record.get(SOURCE_KEY) or "") == key):
                        found.append(SourceRow(entry["name"], at, header, values))
                        if len(found) >= MAX_MATCHES:
                            return found
    return found


def _csv_rows(raw: io.BufferedIOBase, encoding: str, _: str) -> Iterator[tuple[int, list[str], list[str]]]:
    text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
    reader = csv.reader(text)
    header = [name.strip(PADDING) for name in next(reader, [])]
    start = reader.line_num + 1
    for values in reader:
        if values:
            yield start, header, values
        start = reader.line_num + 1


def _xml_rows(raw: io.BufferedIOBase, _: str, record_type: str) -> Iterator[tuple[int, list[str], list[str]]]:
    position, depth = 0, 0
    for event, elem in iterparse(raw, events=("start", "end"), forbid_dtd=True):
        if event == "start":
            depth += 1
            continue
        depth -= 1
        if depth == 1 and elem.tag == record_type:
            position += 1
            fields = [(child.tag, child.text or "") for child in elem]
            yield position, [name for name, _ in fields], [value for _, value in fields]
            elem.clear()
