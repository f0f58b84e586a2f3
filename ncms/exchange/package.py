"""Data packages: a ZIP of ``manifest.json`` and record files, read safely and in chunks.

Reading never trusts the package: member names, sizes, compression ratio, checksums and
row counts are all checked against limits and against the manifest, XML is parsed with
DTDs and entities refused, and every file is transcoded to UTF-8 once, while it is hashed.
A refused row must be pointed at by its line: in a plain CSV (no quotes, no blank lines,
no ragged rows: the usual case) record n is on line n + 1; any other CSV gets each record
tagged with its line number in a second pass.
"""
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import re
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from marshmallow import ValidationError

from ncms.errors import NcmsError

from .messages import PACKAGE_TEMPLATES, manifest_problems, package_messages
from .schemas import FORMAT_NAME, FORMAT_VERSION, RECORD_SCHEMAS, Manifest
from .screen import LINE

MANIFEST = "manifest.json"
FORMAT_DOC = "docs/exchange-format.md"
CODECS = {"UTF-8": "utf-8-sig", "GB18030": "gb18030"}
READ_BLOCK = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What a package may be; beyond these it is refused before anything is loaded."""

    max_package_bytes: int = 2 << 30
    max_file_bytes: int = 4 << 30
    max_total_bytes: int = 8 << 30
    max_ratio: int = 200  # uncompressed / compressed, per file
    max_record_bytes: int = 16 << 20  # one CSV record (a 10 MB field fits, and is then refused as too long)
    max_manifest_bytes: int = 1 << 20
    chunk_rows: int = 100_000


class PackageError(NcmsError):
    """The package as a whole is refused; ``code`` names the reason for the receipt, which
    says it in both languages (``message_zh``, ``message_en``; ``str()`` is the English).

    ``template`` picks the words (``messages.PACKAGE_TEMPLATES``, default: the code) and
    ``params`` fill them in. ``manifest`` is what was read of the manifest before the
    refusal, so that the receipt still names the package by its sequence."""

    def __init__(self, code: str, template: str | None = None, /, **params: Any) -> None:
        key = template or code
        if key not in PACKAGE_TEMPLATES:  # a caller's own English sentence: say at least the code
            key, params = "unexplained", {"code": code, "message": key}
        zh, en = package_messages(key, params)
        super().__init__(en)
        self.code, self.message_zh, self.message_en, self.params = code, zh, en, params
        self.manifest: dict[str, Any] = {}


@dataclass
class RaggedRow:
    file: str
    line: int | None
    expected: int
    actual: int
    text: str


@dataclass
class RecordFile:
    name: str
    record_type: str
    format: str
    rows: int
    sha256: str
    path: Path  # the UTF-8 working copy
    ragged: list[RaggedRow] = field(default_factory=list)
    rows_read: int = 0
    numbered: bool = True  # records carry ``_line`` in the working copy; else line = row + 1


class Package:
    """An opened package: a checked manifest and its record files, extracted to ``workdir``."""

    def __init__(self, path: Path, workdir: Path, limits: Limits = Limits()) -> None:
        self.path = Path(path)
        self.workdir = Path(workdir)
        self.limits = limits
        self.manifest: dict[str, Any] = {}
        self.files: list[RecordFile] = []

    def open(self) -> "Package":
        try:
            return self._open()
        except PackageError as exc:  # the receipt is named by the sequence, if it was read
            exc.manifest = exc.manifest or {k: v for k, v in self.manifest.items() if k in ("sequence", "period")}
            raise

    def _open(self) -> "Package":
        if self.path.stat().st_size > self.limits.max_package_bytes:
            raise PackageError("too_large", limit=self.limits.max_package_bytes)
        try:
            archive = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise PackageError("not_zip", reason=exc) from exc
        with archive:
            members = {info.filename: info for info in archive.infolist()}
            for name in members:
                _check_member_name(name)
            self.manifest = _read_manifest(archive, members, self.limits)
            listed = {f["name"] for f in self.manifest["files"]} | {MANIFEST}
            extra = sorted(set(members) - listed)
            if extra:
                raise PackageError("unexpected_file", names=", ".join(extra))
            self.workdir.mkdir(parents=True, exist_ok=True)
            total = 0
            for index, entry in enumerate(self.manifest["files"]):
                info = members.get(entry["name"])
                if info is None:
                    raise PackageError("missing_file", name=entry["name"])
                total += info.file_size
                self._check_size(info, total)
                target = self.workdir / f"{index:02d}-{entry['record_type']}.{entry['format']}"
                digest, numbered = _extract(archive, info, target, self.manifest["encoding"], entry["format"],
                                            self.limits)
                if digest != entry["sha256"]:
                    raise PackageError("checksum", name=entry["name"], digest=digest, expected=entry["sha256"])
                self.files.append(RecordFile(path=target, numbered=numbered, **entry))
        return self

    def _check_size(self, info: zipfile.ZipInfo, total: int) -> None:
        if info.file_size > self.limits.max_file_bytes or total > self.limits.max_total_bytes:
            raise PackageError("too_large", "too_large.file", name=info.filename, size=info.file_size)
        if info.file_size > 1 << 20 and info.file_size > self.limits.max_ratio * max(info.compress_size, 1):
            raise PackageError("zip_bomb", name=info.filename, ratio=info.file_size // max(info.compress_size, 1),
                               limit=self.limits.max_ratio)

    @property
    def county_code(self) -> str:
        return self.manifest["county_code"]

    def chunks(self, record_file: RecordFile) -> Iterator[pl.DataFrame]:
        """The file's records as string columns plus ``_line``, in chunks of whole reader
        blocks adding up to at least ``chunk_rows`` rows (or the rest of the file)."""
        reader = _csv_chunks if record_file.format == "csv" else _xml_chunks
        for frame in reader(record_file, self.limits):
            record_file.rows_read += frame.height
            yield frame


def _check_member_name(name: str) -> None:
    path = PurePosixPath(name)
    if (name.startswith(("/", "\\")) or "\\" in name or ".." in path.parts or re.match(r"^[A-Za-z]:", name)
            or len(path.parts) != 1):
        raise PackageError("unsafe_path", name=repr(name))


def _read_manifest(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], limits: Limits) -> dict[str, Any]:
    info = members.get(MANIFEST)
    if info is None:
        raise PackageError("no_manifest")
    if info.file_size > limits.max_manifest_bytes:
        raise PackageError("too_large", "too_large.manifest", limit=limits.max_manifest_bytes)
    try:
        with archive.open(info) as fh:
            raw = json.loads(fh.read(limits.max_manifest_bytes + 1).decode("utf-8-sig"))
        manifest = Manifest().load(raw)
    except ValidationError as exc:
        error = PackageError("bad_manifest", format=FORMAT_NAME, version=FORMAT_VERSION, doc=FORMAT_DOC,
                             problems=manifest_problems(exc.messages))
        error.manifest = _sequence_only(raw)
        raise error from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise PackageError("bad_manifest", "bad_manifest.json", reason=exc) from exc
    return manifest


def _sequence_only(raw: Any) -> dict[str, Any]:
    """The sequence of a manifest refused for something else, if it has a usable one: the
    receipt is named by it."""
    seq = raw.get("sequence") if isinstance(raw, dict) else None
    return {"sequence": seq} if isinstance(seq, int) and not isinstance(seq, bool) and 0 < seq < 2**31 else {}


def _extract(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, encoding: str,
             fmt: str, limits: Limits) -> tuple[str, bool]:
    """Stream one member to a UTF-8 working copy; returns the SHA-256 of the bytes as sent
    and whether the copy's records carry their line numbers.

    A CSV is first copied as it is, while it stays *plain* (``_PlainCsv``); only one that
    is not gets a second pass that prefixes each record with its line number. A UTF-8 CSV
    stays bytes (``_Utf8``): checked, not decoded and encoded again."""
    digest = hashlib.sha256()
    if fmt == "csv":
        to_utf8 = _Utf8() if encoding == "UTF-8" else _Transcoder(encoding)
        copier: _PlainCsv | _XmlDeclaration = _PlainCsv()
    else:
        to_utf8, copier = _Transcoder(encoding), _XmlDeclaration()
    # zipfile stops at the size the header declares and checks the CRC at the end
    try:
        with archive.open(info) as src, target.open("wb") as out:
            while block := src.read(READ_BLOCK):
                digest.update(block)
                out.write(copier.feed(to_utf8.feed(block)))
            out.write(copier.feed(to_utf8.feed(b"", final=True), final=True))
    except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:
        raise PackageError("corrupt_zip", name=info.filename, reason=exc) from exc
    if fmt != "csv":
        return digest.hexdigest(), True
    if not copier.plain:
        _number_lines(target)
    return digest.hexdigest(), not copier.plain


def _number_lines(path: Path) -> None:
    """Rewrite a CSV working copy with each record prefixed by its line number."""
    tagger = _LineTagger()
    numbered = path.with_suffix(".numbered")
    with path.open(encoding="utf-8", newline="") as src, numbered.open("w", encoding="utf-8", newline="") as out:
        while block := src.read(READ_BLOCK):
            out.write(tagger.feed(block))
        out.write(tagger.feed("", final=True))
    numbered.replace(path)


class _Transcoder:
    """Text in the package's encoding to UTF-8 bytes, a block at a time; bytes that are not
    of the encoding become U+FFFD (the screen refuses the fields they spoil)."""

    def __init__(self, encoding: str) -> None:
        self.decoder = codecs.getincrementaldecoder(CODECS[encoding])(errors="replace")

    def feed(self, block: bytes, final: bool = False) -> bytes:
        return self.decoder.decode(block, final).encode("utf-8")


class _Utf8:
    """UTF-8 as sent, without its byte-order mark, a block at a time: a block that is valid
    UTF-8 passes as it is (checked by decoding, the text thrown away); one that is not is
    decoded with U+FFFD for the bad bytes and encoded again, as ``_Transcoder`` would. A
    character cut by the block's end waits for the next block. Decoding and encoding every
    block had cost a third of opening a package (a county's 1.26 million lines: 1.5 s)."""

    BOM = codecs.BOM_UTF8

    def __init__(self) -> None:
        self.pending = b""
        self.started = False

    def feed(self, block: bytes, final: bool = False) -> bytes:
        data = self.pending + block
        if not self.started:
            if len(data) < len(self.BOM) and not final and self.BOM.startswith(data):
                self.pending = data  # too short to tell whether it starts with the mark
                return b""
            self.started = True
            data = data.removeprefix(self.BOM)
        cut = len(data) if final else _whole_characters(data)
        data, self.pending = data[:cut], data[cut:]
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            return data.decode("utf-8", errors="replace").encode("utf-8")
        return data


def _whole_characters(data: bytes) -> int:
    """Where the last whole UTF-8 character of ``data`` ends: before a lead byte whose
    sequence the data does not complete (a continuation byte is 10xxxxxx)."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:  # a lead byte: 110xxxxx takes 2 bytes, 1110xxxx 3, 11110xxx 4
            length = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) if back >= length else len(data) - back
    return len(data)  # no lead byte in reach: invalid anyway, the decoder says so


class _PlainCsv:
    """Copies a CSV's UTF-8 bytes, header names stripped, and finds out whether it is
    *plain*: no quote anywhere, no blank line, every line with the header's number of
    fields. In a plain file record n is on line n + 1, so the line numbers need not be
    written (checking costs a few vectorised passes; tagging took 0.5 s per 1.4 million
    lines). Newlines, carriage returns, quotes and commas are single bytes in UTF-8, never
    part of another character's, so the bytes are checked as they are."""

    def __init__(self) -> None:
        self.pending = b""
        self.commas: int | None = None  # per line, from the header
        self.plain = True

    def feed(self, data: bytes, final: bool = False) -> bytes:
        block = self.pending + data
        cut = len(block) if final else block.rfind(b"\n") + 1
        lines, self.pending = block[:cut], block[cut:]
        if final and lines and not lines.endswith(b"\n"):
            lines += b"\n"  # a last line without its newline gets one: the same CSV
        header = b""
        if self.commas is None:
            if b"\n" not in lines:
                self.pending = lines + self.pending  # the header is not complete yet
                return b""
            first, lines = lines.split(b"\n", 1)
            header = _header(first.decode("utf-8")).encode("utf-8")
            self.commas = header.count(b",")
        if self.plain and lines:
            self.plain = _plain_lines(lines, self.commas)
        return header + lines


def _header(line: str) -> str:
    """A CSV's header line as copied: names without surrounding spaces, one newline."""
    return ",".join(name.strip() for name in line.rstrip("\r").split(",")) + "\n"


def _plain_lines(lines: bytes, commas: int) -> bool:
    """Whether whole lines (ending in a newline) hold no quote, no blank line, no lone
    carriage return and exactly ``commas`` commas each."""
    if b'"' in lines or lines.startswith((b"\n", b"\r\n")) or b"\n\n" in lines or b"\n\r\n" in lines:
        return False
    if b"\r" in lines and lines.count(b"\r") != lines.count(b"\r\n"):  # a lone carriage return ends a record too
        return False
    data = np.frombuffer(lines, dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    starts = np.concatenate(([0], ends[:-1] + 1))  # of each line: none is empty (no blank line, above)
    # commas per line, summed line by line (a third faster than finding each comma's line)
    return bool((np.add.reduceat(data == 44, starts, dtype=np.int32) == commas).all())


class _LineTagger:
    """Prefix each CSV record with its line number, so refused rows can be pointed at.

    A line that starts inside a quoted value (a value with a line break) is a continuation
    and gets no prefix. As for the CSV reader, a quote opens a quoted value only at the
    start of a field (``O"Brien`` is plain text), and ``""`` inside one is a quote. Blank
    lines are no records and stay blank; header names lose surrounding spaces.
    """

    def __init__(self) -> None:
        self.line = 0
        self.in_quotes = False
        self.pending = ""

    def feed(self, text: str, final: bool = False) -> str:
        block = self.pending + text
        parts = block.split("\n")
        self.pending = parts.pop()  # after the last newline: an incomplete line
        if final and self.pending:
            parts.append(self.pending)
            self.pending = ""
        out = []
        if self.line == 0 and parts:
            out.append(f"{LINE},{_header(parts[0])}")
            self.line, parts = 1, parts[1:]
        if not self.in_quotes and '"' not in block:  # the usual case, at C speed
            first, self.line = self.line + 1, self.line + len(parts)
            out.append("".join([f"{n},{part}\n" if part.strip("\r") else "\n"
                                for n, part in zip(range(first, self.line + 1), parts)]))
        else:
            for part in parts:
                self.line += 1
                if not self.in_quotes and part.strip("\r"):
                    out.append(f"{self.line},")
                out.append(part + "\n")
                self.in_quotes = _ends_in_quotes(part, self.in_quotes)
        return "".join(out)  # a last line without its newline gets one: the same CSV


def _ends_in_quotes(line: str, in_quotes: bool) -> bool:
    """Whether a quoted value is still open at the end of ``line``."""
    i, end = 0, len(line)
    while i <= end:
        if in_quotes:
            close = line.find('"', i)
            while close != -1 and line.startswith('""', close):
                close = line.find('"', close + 2)
            if close == -1:
                return True
            in_quotes, i = False, close + 1
            comma = line.find(",", i)
            if comma == -1:
                return False
            i = comma + 1
        elif line.startswith('"', i):
            in_quotes, i = True, i + 1
        else:
            comma = line.find(",", i)
            if comma == -1:
                return False
            i = comma + 1
    return in_quotes


class _XmlDeclaration:
    """Rewrite the XML declaration's encoding: the working copy is UTF-8 whatever was sent."""

    def __init__(self) -> None:
        self.started = False

    def feed(self, data: bytes, final: bool = False) -> bytes:
        if not self.started and data:
            self.started = True
            data = re.sub(rb'^(\s*<\?xml[^>]*?encoding=)["\'][^"\']*["\']', rb'\1"UTF-8"', data, count=1)
        return data


def _csv_chunks(record_file: RecordFile, limits: Limits) -> Iterator[pl.DataFrame]:
    columns = _csv_header(record_file.path)
    specs = RECORD_SCHEMAS[record_file.record_type].specs()
    missing = [name for name, spec in specs.items() if spec.required and name not in columns]
    if missing:
        raise PackageError("bad_header", name=record_file.name, columns=", ".join(missing), doc=FORMAT_DOC)

    numbered = record_file.numbered

    def on_ragged(row: Any) -> str:  # only in a numbered file: a plain one has none
        line, _, rest = row.text.partition(",")
        record_file.ragged.append(RaggedRow(record_file.name, int(line) if line.isdigit() else None,
                                            row.expected_columns - 1, row.actual_columns - 1, rest[:200]))
        return "skip"

    try:
        reader = pacsv.open_csv(
            record_file.path,
            read_options=pacsv.ReadOptions(block_size=limits.max_record_bytes, use_threads=True),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_ragged),
            convert_options=pacsv.ConvertOptions(
                column_types={c: (pa.int64() if c == LINE else pa.string()) for c in columns},
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
        batches = _rebatch(reader, limits.chunk_rows)
        first_line = 2  # of the next chunk, in a plain file: line 1 is the header
        for table in batches:
            frame = pl.from_arrow(table).with_columns(pl.col(pl.String).replace("", None))
            if not numbered:
                frame = frame.select(pl.int_range(first_line, first_line + frame.height, dtype=pl.Int64).alias(LINE),
                                     pl.all())
                first_line += frame.height
            yield frame
    except pa.ArrowInvalid as exc:
        raise PackageError("unreadable_csv", name=record_file.name, reason=exc) from exc


def _csv_header(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as fh:
        first = fh.readline(64 * 1024)
    columns = [c.strip() for c in next(csv.reader([first]), [])]
    if len(columns) < 2:
        raise PackageError("unreadable_csv", "unreadable_csv.no_header", name=path.name)
    return columns


def _rebatch(reader: Any, rows: int) -> Iterator[pa.Table]:
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in reader:
        pending.append(batch)
        size += batch.num_rows
        if size >= rows:
            yield pa.Table.from_batches(pending)
            pending, size = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


def _xml_chunks(record_file: RecordFile, limits: Limits) -> Iterator[pl.DataFrame]:
    schema = RECORD_SCHEMAS[record_file.record_type]
    names = list(schema.specs())
    rows: list[dict[str, Any]] = []
    depth, number = 0, 0
    try:
        for event, elem in iterparse(str(record_file.path), events=("start", "end"),
                                     forbid_dtd=True, forbid_entities=True, forbid_external=True):
            if event == "start":
                depth += 1
                continue
            depth -= 1
            if depth == 1:  # a record element under the root
                number += 1
                row = {name: None for name in names}
                for child in elem:
                    if child.tag in row:
                        row[child.tag] = child.text if child.text not in ("",) else None
                row[LINE] = number
                rows.append(row)
                elem.clear()
                if len(rows) >= limits.chunk_rows:
                    yield _frame(rows, names)
                    rows = []
    except (DefusedXmlException, SyntaxError) as exc:
        raise PackageError("unreadable_xml", name=record_file.name, reason=exc) from exc
    if rows:
        yield _frame(rows, names)


def _frame(rows: list[dict[str, Any]], names: list[str]) -> pl.DataFrame:
    schema = {name: pl.String for name in names} | {LINE: pl.Int64}
    return pl.DataFrame(rows, schema=schema)


# --- writing ---------------------------------------------------------------------------

def write_package(path: Path, *, county_code: str, sequence: int, period: tuple[date, date],
                  records: dict[str, pl.DataFrame], encoding: str = "UTF-8", fmt: str = "csv",
                  created_at: str | None = None, date_time: tuple[int, ...] | None = None) -> Path:
    """Write a package in the exchange format from whole frames (the synthetic province, tests).

    ``date_time`` stamps every ZIP entry (default: now); a fixed one makes the bytes reproducible.
    """
    with PackageWriter(Path(path).parent, encoding=encoding, fmt=fmt) as writer:
        for record_type, frame in records.items():
            writer.add(record_type, frame)
        return writer.finish(path, county_code=county_code, sequence=sequence, period=period,
                             created_at=created_at, date_time=date_time)


class PackageWriter:
    """Write a package chunk by chunk (ETL extracts): each record type's rows are appended to
    a file in ``workdir`` as they come, so memory holds one chunk, then ``finish`` zips them.

    A record type added with no rows still gets its (empty) file.
    """

    def __init__(self, workdir: Path, *, encoding: str = "UTF-8", fmt: str = "csv") -> None:
        self.workdir, self.encoding, self.fmt = Path(workdir), encoding, fmt
        self.rows: dict[str, int] = {}
        self._files: dict[str, Any] = {}
        self._paths: dict[str, Path] = {}  # unique names: writers may share a folder

    def __enter__(self) -> "PackageWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, record_type: str, frame: pl.DataFrame) -> None:
        """Append ``frame`` (exchange fields, as strings) to the record type's file."""
        fh = self._files.get(record_type)
        if fh is None:
            self.workdir.mkdir(parents=True, exist_ok=True)
            fh = self._files[record_type] = tempfile.NamedTemporaryFile(
                dir=self.workdir, prefix=f".{RECORD_SCHEMAS[record_type].file_stem}-", suffix=".part", delete=False)
            self._paths[record_type] = Path(fh.name)
            self.rows[record_type] = 0
            if self.fmt == "xml":
                fh.write(self._encode(f'<?xml version="1.0" encoding="{self.encoding}"?>\n'
                                      f'<records type="{record_type}">\n'))
        if self.fmt == "csv":
            fh.write(self._encode(frame.write_csv(null_value="", include_header=fh.tell() == 0)))
        else:
            fh.write(self._encode(_xml_records(frame, record_type)))
        self.rows[record_type] += frame.height

    def finish(self, path: Path, *, county_code: str, sequence: int, period: tuple[date, date],
               created_at: str | None = None, date_time: tuple[int, ...] | None = None,
               compresslevel: int = 1) -> Path:
        """Zip the files with their manifest into ``path``."""
        stamp = date_time or time.localtime()[:6]
        for record_type, fh in self._files.items():
            if self.fmt == "xml":
                fh.write(self._encode("</records>\n"))
            fh.close()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        files = []
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as archive:
            for record_type in self._files:
                name = f"{RECORD_SCHEMAS[record_type].file_stem}.{self.fmt}"
                digest = hashlib.sha256()
                with open(self._paths[record_type], "rb") as src, archive.open(
                        _entry(name, stamp, compresslevel), "w", force_zip64=True) as dst:
                    while block := src.read(READ_BLOCK):
                        digest.update(block)
                        dst.write(block)
                files.append(dict(name=name, record_type=record_type, format=self.fmt, rows=self.rows[record_type],
                                  sha256=digest.hexdigest()))
            manifest = dict(format=FORMAT_NAME, format_version=FORMAT_VERSION, county_code=county_code,
                            sequence=sequence, period=dict(start=period[0].isoformat(), end=period[1].isoformat()),
                            encoding=self.encoding, files=files)
            if created_at:
                manifest["created_at"] = created_at
            archive.writestr(_entry(MANIFEST, stamp, compresslevel),
                             json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8"))
        self._files = {}
        return path

    def close(self) -> None:
        """Drop the working files (``finish`` has zipped them, or the package is abandoned)."""
        for fh in self._files.values():
            fh.close()
        for path in self._paths.values():
            path.unlink(missing_ok=True)
        self._files, self._paths, self.rows = {}, {}, {}

    def _encode(self, text: str) -> bytes:
        return text.encode("utf-8" if self.encoding == "UTF-8" else "gb18030")


def _entry(name: str, stamp: tuple[int, ...], level: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = level  # type: ignore[attr-defined]  # what ZipFile.open("w") compresses with (3.11)
    return info


def _xml_records(frame: pl.DataFrame, record_type: str) -> str:
    from xml.sax.saxutils import escape

    out = io.StringIO()
    for row in frame.iter_rows(named=True):
        out.write(f"<{record_type}>")
        for key, value in row.items():
            if value is not None and value != "":
                out.write(f"<{key}>{escape(str(value))}</{key}>")
        out.write(f"</{record_type}>\n")
    return out.getvalue()
