"""The machine-readable statistics the ministry's data centre reads: one CSV and one XML file per
table of a report, the XML Schema they follow (``schema/statistics.xsd``, published with them),
and ``manifest.json``: every file with its SHA-256, size and row count, the report's kind,
period, province, revision and platform version, and the earlier report it supersedes.
docs/reports.md documents the layout; the XSD is the contract.

Values are written exactly as the indicators module gives them: money in yuan with two
decimals, rates with four, dates ISO (2011-04-05), an empty CSV cell and ``xsi:nil`` for a
figure that does not exist (a rate over nothing). Every XML file is validated against the XSD
before the manifest is written: a package that does not validate is never built.
"""
from __future__ import annotations

import csv
import hashlib
import json
import shutil
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timezone
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from lxml import etree

from .content import ReportContent, Table

FORMAT, FORMAT_VERSION = "ncms-statistics", "1.0"
NAMESPACE = "urn:ncms:statistics:1"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA = Path(__file__).with_name("schema") / "statistics.xsd"
SCHEMA_NAME = "statistics.xsd"
MANIFEST = "manifest.json"
CENT, RATE = Decimal("0.01"), Decimal("0.0001")


class StatisticsError(ValueError):
    """A table that cannot be written as the schema says (a value of the wrong kind, an XML
    file the XSD refuses); the message names the table, the column and the row."""


def write_statistics(content: ReportContent, folder: str | Path, *, revision: int = 1, lang: str | None = None,
                     supersedes: Mapping[str, Any] | None = None) -> list[Path]:
    """Write ``<table>.csv`` and ``<table>.xml`` for every table of ``content``, the XSD and
    ``manifest.json`` into ``folder``; return the files written, the manifest last.

    The manifest lists every file in ``folder`` (the PDF too, when it is written first), each
    with its SHA-256. ``supersedes``: the earlier revision of the same report this one replaces
    (``reports.registry.supersedes``), named in the manifest so the ministry drops it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    schema = _schema()
    for table in content.tables:
        written.append(_write_csv(table, folder / f"{table.key}.csv"))
        xml = _write_xml(content, table, folder / f"{table.key}.xml")
        if not schema.validate(etree.parse(str(xml))):
            error = schema.error_log.last_error
            raise StatisticsError(f"{xml.name}: line {error.line}: {error.message}")
        written.append(xml)
    shutil.copyfile(SCHEMA, folder / SCHEMA_NAME)
    written.append(folder / SCHEMA_NAME)
    manifest = folder / MANIFEST
    manifest.write_text(json.dumps(build_manifest(content, folder, revision=revision, lang=lang,
                                                  supersedes=supersedes), ensure_ascii=False, indent=2) + "\n",
                        encoding="utf-8")
    written.append(manifest)
    return written


def build_manifest(content: ReportContent, folder: Path, *, revision: int = 1, lang: str | None = None,
                   supersedes: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The manifest of the files in ``folder``: what ``write_statistics`` writes as manifest.json."""
    rows = {t.key: len(t.rows) for t in content.tables}
    files = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.name != MANIFEST
                       and not p.name.startswith(".") and p.suffix != ".zip"):
        entry: dict[str, Any] = {"name": path.name, "format": path.suffix.lstrip(".").lower(),
                                 "bytes": path.stat().st_size, "sha256": sha256_of(path)}
        if path.suffix in (".csv", ".xml") and path.stem in rows:
            entry["table"], entry["rows"] = path.stem, rows[path.stem]
        files.append(entry)
    period = content.period
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "report": {"kind": content.kind, "period": period.label, "period_start": period.start.isoformat(),
                   "period_end": period.end.isoformat(), "province": content.province_code,
                   "province_name": content.province_name, "county": content.county,
                   "county_name": (content.county_names.get(content.county) or {}).get("zh") if content.county else None,
                   "language": lang, "revision": revision},
        "generated_at": _utc(content.generated_at),
        "platform_version": content.platform_version,
        "schema": SCHEMA_NAME,
        "namespace": NAMESPACE,
        "supersedes": dict(supersedes) if supersedes else None,
        "tables": [{"key": t.key, "section": t.section, "title": t.title, "rows": len(t.rows),
                    "columns": [c.key for c in t.columns]} for t in content.tables],
        "files": files,
    }


def sha256_of(path: str | Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# -- one table ------------------------------------------------------------------------------
def cell(value: Any, kind: str, where: str) -> str | None:
    """A value as the CSV and the XML write it (None: no figure)."""
    if value is None:
        return None
    if kind == "text":
        return str(value)
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise StatisticsError(f"{where}: {value!r} is not a whole number")
        return str(value)
    if kind in ("money", "rate"):
        if isinstance(value, int) and not isinstance(value, bool):
            value = Decimal(value)
        if not isinstance(value, Decimal) or not value.is_finite():
            raise StatisticsError(f"{where}: {value!r} is not an exact decimal")
        return format(value.quantize(CENT if kind == "money" else RATE, ROUND_HALF_UP), "f")
    if kind == "date":
        if isinstance(value, datetime) or not isinstance(value, date):
            raise StatisticsError(f"{where}: {value!r} is not a date")
        return value.isoformat()
    raise StatisticsError(f"{where}: unknown column kind {kind!r}")


def table_cells(table: Table) -> Iterable[list[str | None]]:
    for n, row in enumerate(table.rows, 1):
        if len(row) != len(table.columns):
            raise StatisticsError(f"{table.key}: row {n} has {len(row)} values for {len(table.columns)} columns")
        yield [cell(v, c.kind, f"{table.key}: row {n}: {c.key}") for v, c in zip(row, table.columns)]


def _write_csv(table: Table, path: Path) -> Path:
    """RFC 4180: UTF-8 without a byte-order mark, CRLF, a header of the column keys."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\r\n")
        out.writerow([c.key for c in table.columns])
        for values in table_cells(table):
            out.writerow(["" if v is None else v for v in values])
    return path


def _q(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _write_xml(content: ReportContent, table: Table, path: Path) -> Path:
    period = content.period
    attrs = {"table": table.key, "section": table.section, "kind": content.kind, "period": period.label,
             "period_start": period.start.isoformat(), "period_end": period.end.isoformat(),
             "province": content.province_code, "generated_at": _utc(content.generated_at),
             "platform_version": content.platform_version}
    if content.county:
        attrs["county"] = content.county
    root = etree.Element(_q("statistics"), attrs, nsmap={None: NAMESPACE, "xsi": XSI})
    _titles(root, table.title)
    columns = etree.SubElement(root, _q("columns"))
    for c in table.columns:
        column = etree.SubElement(columns, _q("column"), {"key": c.key, "kind": c.kind,
                                                          **({"definition": c.definition} if c.definition else {})})
        _titles(column, c.title)
    rows = etree.SubElement(root, _q("rows"), {"count": str(len(table.rows))})
    for values in table_cells(table):
        row = etree.SubElement(rows, _q("row"))
        for c, value in zip(table.columns, values):
            element = etree.SubElement(row, _q(c.key))
            if value is None:
                element.set(f"{{{XSI}}}nil", "true")
            else:
                element.text = value
    etree.ElementTree(root).write(str(path), xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return path


def _titles(parent: etree._Element, title: Mapping[str, str]) -> None:
    for lang in ("zh", "en"):
        if title.get(lang):
            element = etree.SubElement(parent, _q("title"), {"lang": lang})
            element.text = title[lang]


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


@lru_cache(maxsize=1)
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


def validate(path: str | Path) -> list[str]:
    """What the XSD says is wrong with an XML file of statistics (nothing: it validates)."""
    schema = _schema()
    if schema.validate(etree.parse(str(path))):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]
