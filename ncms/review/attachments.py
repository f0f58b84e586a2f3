"""Files a step of the review carries (a county's scanned explanation, a photo, a spreadsheet).

A file is accepted only when its content is what its name says: a PDF, a PNG, JPEG or GIF image,
an Excel workbook (.xlsx, without macros; .xls) or a CSV text, within ``MAX_BYTES``. Anything else
— another type behind a right extension, an archive, an executable, a name with folder parts — is
refused with the reason, before anything is written. Accepted files are stored once by their
SHA-256 (``<data>/attachments/ab/abcdef…``), never executed, and served only as downloads
(``Content-Disposition: attachment``) with the type found here, not the one the sender named."""
from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ncms.models import FindingAttachment, FindingEvent

from .workflow import ReviewError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from ncms.models import Finding, User

MAX_BYTES = 10 * 2**20  # one file
MAX_FILES = 10  # one step
MAX_NAME = 200
XLSX_MAX_UNPACKED = 100 * 2**20  # a workbook that unpacks to more is refused (a zip bomb)
FOLDER = "attachments"

# extension -> media type; what the content must be is checked by _sniff
TYPES = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".xls": "application/vnd.ms-excel",
    ".csv": "text/csv",
}
ACCEPTED = ", ".join(sorted({ext.lstrip(".") for ext in TYPES}))


@dataclass(frozen=True)
class Upload:
    """A file as received: the name the sender gave and its bytes."""

    file_name: str
    data: bytes


@dataclass(frozen=True)
class Checked:
    file_name: str
    media_type: str
    sha256: str
    data: bytes


def check(upload: Upload) -> Checked:
    """The file if it may be kept, else ReviewError saying why (naming the file)."""
    name = upload.file_name or ""
    shown = name[:80]
    if not name.strip():
        raise ReviewError("a file without a name: name it (e.g. 说明.pdf)", "文件没有名称：请命名（如 说明.pdf）")
    if "/" in name or "\\" in name or name.strip() in (".", "..") or "\x00" in name:
        raise ReviewError(f"{shown!r}: a file name may not hold folder parts (/ or \\)",
                          f"{shown!r}：文件名不能包含路径（/ 或 \\）")
    if re.search(r"[\x00-\x1f\x7f]", name) or len(name) > MAX_NAME:
        raise ReviewError(f"{shown!r}: a file name has at most {MAX_NAME} characters and no control characters",
                          f"{shown!r}：文件名最多 {MAX_NAME} 个字符，且不能含控制字符")
    extension = os.path.splitext(name)[1].lower()
    if extension not in TYPES:
        raise ReviewError(f"{shown}: files of this type are not accepted; accepted: {ACCEPTED}",
                          f"{shown}：不接受此类文件；可接受：{ACCEPTED}")
    size = len(upload.data)
    if size == 0:
        raise ReviewError(f"{shown}: the file is empty", f"{shown}：文件为空")
    if size > MAX_BYTES:
        raise ReviewError(f"{shown}: {size / 2**20:.1f} MiB is more than the {MAX_BYTES // 2**20} MiB a file may have",
                          f"{shown}：{size / 2**20:.1f} MiB，超过单个文件 {MAX_BYTES // 2**20} MiB 的上限")
    found = _sniff(upload.data)
    expected = TYPES[extension]
    if found != expected:
        what = _describe(found)
        raise ReviewError(f"{shown}: the name says {extension.lstrip('.')} but the content is {what}: "
                          f"send the file as it is, in one of: {ACCEPTED}",
                          f"{shown}：文件名为 {extension.lstrip('.')}，内容却是{_describe_zh(found)}："
                          f"请按原样发送以下格式之一：{ACCEPTED}")
    return Checked(name.strip(), expected, hashlib.sha256(upload.data).hexdigest(), upload.data)


def attach(session: "Session", actor: "User", finding: "Finding", event: FindingEvent,
           uploads: Sequence[Upload], data_dir: Path | None = None) -> list[FindingAttachment]:
    """Check every file first (one refused: none kept), then store and record them."""
    if len(uploads) > MAX_FILES:
        raise ReviewError(f"{len(uploads)} files: at most {MAX_FILES} with one answer",
                          f"{len(uploads)} 个文件：每次答复最多 {MAX_FILES} 个")
    checked = [check(upload) for upload in uploads]
    folder = data_dir or _data_dir(session)
    rows = []
    for file in checked:
        store(folder, file.sha256, file.data)
        rows.append(FindingAttachment(event_id=event.id, finding_id=finding.id, sha256=file.sha256,
                                      file_name=file.file_name, media_type=file.media_type, size=len(file.data),
                                      uploaded_by=actor.id))
    session.add_all(rows)
    session.flush()
    return rows


def path_of(data_dir: Path, sha256: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise ValueError(f"not a SHA-256: {sha256!r}")
    return data_dir / FOLDER / sha256[:2] / sha256


def store(data_dir: Path, sha256: str, data: bytes) -> Path:
    """Write the content once under its hash (atomically: a crash leaves no half file under it)."""
    target = path_of(data_dir, sha256)
    if target.exists() and target.stat().st_size == len(data):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{sha256}.{os.getpid()}.part")
    with open(partial, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, target)
    return target


def read(data_dir: Path, attachment: FindingAttachment) -> bytes:
    """The stored content, checked against its hash (a changed file is an error, not a download)."""
    data = path_of(data_dir, attachment.sha256).read_bytes()
    if hashlib.sha256(data).hexdigest() != attachment.sha256:
        raise ReviewError(f"attachment {attachment.id}: the stored file does not match its SHA-256",
                          f"附件 {attachment.id}：存储的文件与其 SHA-256 不符")
    return data


def _data_dir(session: "Session") -> Path:
    folder = session.info.get("data_dir")
    if folder is None:
        raise ReviewError("no data folder to keep attachments in (session.info['data_dir'])")
    return Path(folder)


def _sniff(data: bytes) -> str:
    """The media type the content is, by its first bytes (and for a zip, what it holds)."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):  # OLE2: an .xls (or an old .doc…)
        return "application/vnd.ms-excel" if b"W\x00o\x00r\x00k\x00b\x00o\x00o\x00k" in data[:2**20] \
            or b"Workbook" in data[:2**20] else "application/x-ole-storage"
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return _zip_kind(data)
    if data.startswith((b"MZ", b"\x7fELF", b"#!")):
        return "application/x-executable"
    if _is_text(data):
        return "text/csv"
    return "application/octet-stream"


def _zip_kind(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError):
        return "application/zip"
    if "[Content_Types].xml" in names and "xl/workbook.xml" in names:
        if "xl/vbaProject.bin" in names:
            return "application/vnd.ms-excel.sheet.macroEnabled.12"
        if unpacked > XLSX_MAX_UNPACKED:
            return "application/zip"  # unpacks to far more than a workbook of findings needs
        return TYPES[".xlsx"]
    return "application/zip"


def _is_text(data: bytes) -> bool:
    """UTF-8 (or GB18030, as county offices' Excel saves CSV) text without NULs."""
    if b"\x00" in data:
        return False
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        return not re.search(r"[\x01-\x08\x0b\x0c\x0e-\x1f]", text)
    return False


def _describe_zh(media_type: str) -> str:
    return {"application/zip": "压缩包", "application/x-executable": "可执行程序",
            "application/vnd.ms-excel.sheet.macroEnabled.12": "含宏的工作簿",
            "application/x-ole-storage": "非工作簿的 Office 文件",
            "application/octet-stream": "未知类型的文件", "text/csv": "纯文本"}.get(media_type, media_type)


def _describe(media_type: str) -> str:
    return {"application/zip": "a zip archive", "application/x-executable": "a program",
            "application/vnd.ms-excel.sheet.macroEnabled.12": "a workbook with macros",
            "application/x-ole-storage": "an Office file that is not a workbook",
            "application/octet-stream": "not a file of a known type",
            "text/csv": "plain text"}.get(media_type, media_type)
