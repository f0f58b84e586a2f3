"""When is an upload complete? Pure functions on files: no paramiko, no sessions.

A partial upload becomes visible to the core only once it proves itself whole: either a
``<name>.sha256`` sidecar gives its SHA-256, or it is a ZIP package whose manifest lists
every member's SHA-256 and all of them match. Anything else stays in ``.partial/`` until
the quiet-time sweep (``gateway.sweep``) refuses it with the reason ``problem`` gives.
Delivery links a file into place, so it never replaces one the core has not taken yet.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

SIDECAR_SUFFIX = ".sha256"
CHUNK = 1024 * 1024
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_MEMBERS = 1000
MAX_RATIO = 200  # uncompressed : compressed, like the core's zip_bomb check
MAX_UNCOMPRESSED = 64 * 1024**3
HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
ZIP_MAGIC = b"PK\x03\x04"
NAME_MAX = 128  # the longest name the jail accepts (sftp.NAME_RE)
MAX_FRESH_NAMES = 10_000


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def read_sidecar(path: Path) -> str | None:
    """The hex digest a sidecar announces (first token, ``sha256sum`` style), or None."""
    try:
        with open(path, "rb") as f:
            text = f.read(4096).decode("ascii", "replace")
    except OSError:
        return None
    tokens = text.split()
    return tokens[0].lower() if tokens and HEX64.fullmatch(tokens[0]) else None


def matches_sidecar(path: Path, sidecar: Path, digest: str | None = None) -> bool:
    """``digest``, when the caller already knows the file's SHA-256, saves reading it again."""
    announced = read_sidecar(sidecar)
    return announced is not None and path.is_file() and (digest or sha256_file(path)) == announced


def _member_digest(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    h = hashlib.sha256()
    with zf.open(info) as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class Problem:
    """Why an upload is not complete: a stable code, and the reason in Chinese and English."""

    code: str
    zh: str
    en: str


def _looks_like_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == ZIP_MAGIC
    except OSError:
        return False


def package_problem(path: Path) -> Problem | None:
    """None if ``path`` is a ZIP whose manifest.json sha256 of every listed file matches,
    else what is wrong with it.

    Sizes are bounded before anything is decompressed, so a truncated file, a zip bomb
    or a nonsense manifest is a problem to report and never raises.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            return _manifest_problem(zf, os.path.getsize(path))
    except zipfile.BadZipFile:
        if _looks_like_zip(path):
            return Problem("truncated", "ZIP 文件不完整或已损坏（读不到文件末尾的目录），请重新上传完整文件",
                           "the ZIP is truncated or damaged (its central directory cannot be read): "
                           "send the whole file again")
        return Problem("not-zip", f"{path.name} 不是 ZIP 数据包，也没有上传 {path.name}{SIDECAR_SUFFIX} 校验文件",
                       f"{path.name} is not a ZIP package and no {path.name}{SIDECAR_SUFFIX} checksum file "
                       "was sent with it")
    except (OSError, zipfile.LargeZipFile, zlib.error, EOFError, KeyError, NotImplementedError, RuntimeError,
            ValueError) as exc:
        return Problem("damaged", f"ZIP 文件无法读取（{exc}）", f"the ZIP cannot be read ({exc})")


def _manifest_problem(zf: zipfile.ZipFile, size: int) -> Problem | None:
    infos = {i.filename: i for i in zf.infolist()}
    if len(infos) > MAX_MEMBERS:
        return Problem("too-many-members", f"ZIP 包含 {len(infos)} 个文件，最多允许 {MAX_MEMBERS} 个",
                       f"the ZIP holds {len(infos)} files; at most {MAX_MEMBERS} are allowed")
    if "manifest.json" not in infos:
        return Problem("no-manifest", "ZIP 包中没有 manifest.json", "the ZIP has no manifest.json")
    total = sum(i.file_size for i in infos.values())
    if total > min(MAX_UNCOMPRESSED, MAX_RATIO * max(size, 1) + CHUNK) \
            or infos["manifest.json"].file_size > MAX_MANIFEST_BYTES:
        return Problem("too-large", f"ZIP 解压后有 {total} 字节，超出允许范围（压缩比最多 {MAX_RATIO}:1）",
                       f"the ZIP unpacks to {total} bytes, more than allowed "
                       f"(at most {MAX_RATIO}:1 compression)")
    try:
        manifest = json.loads(zf.read("manifest.json").decode("utf-8-sig"))
    except (ValueError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        return _bad_manifest(f"not valid JSON: {exc}", f"不是有效的 JSON：{exc}")
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list) or not files:
        return _bad_manifest("it has no non-empty \"files\" list", "缺少非空的 \"files\" 列表")
    for i, entry in enumerate(files):
        problem = _entry_problem(zf, infos, i, entry)
        if problem is not None:
            return problem
    return None


def _bad_manifest(en: str, zh: str) -> Problem:
    return Problem("manifest-invalid", f"manifest.json 有误：{zh}", f"manifest.json is wrong: {en}")


def _entry_problem(zf: zipfile.ZipFile, infos: dict, i: int, entry) -> Problem | None:
    name = entry.get("name") if isinstance(entry, dict) else None
    digest = entry.get("sha256") if isinstance(entry, dict) else None
    if not isinstance(name, str) or not isinstance(digest, str):
        return _bad_manifest(f"files[{i}] needs a \"name\" and a \"sha256\" string",
                             f"files[{i}] 需要字符串 \"name\" 和 \"sha256\"")
    if name not in infos:
        return Problem("member-missing", f"manifest.json 列出的 {name} 不在 ZIP 包中",
                       f"manifest.json lists {name}, which is not in the ZIP")
    try:
        actual = _member_digest(zf, infos[name])
    except (OSError, zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        return Problem("damaged", f"ZIP 中的 {name} 已损坏，无法读取（{exc}）",
                       f"{name} in the ZIP is damaged and cannot be read ({exc})")
    if actual != digest.lower():
        return Problem("checksum-mismatch",
                       f"{name} 的 SHA-256 为 {actual}，与 manifest.json 中的 {digest} 不符",
                       f"{name}: its SHA-256 is {actual}, manifest.json says {digest}")
    return None


def is_complete_package(path: Path) -> bool:
    """True if ``path`` is a ZIP whose manifest.json sha256 of every listed file matches."""
    return package_problem(path) is None


def problem(path: Path, sidecar: Path | None = None, digest: str | None = None) -> Problem | None:
    """What keeps ``path`` from being complete, or None when it is (see ``is_complete``).

    A sidecar that disagrees with the file is named even when the file is also a broken
    ZIP: the county sent the sidecar to say what it meant, so that is what failed.
    """
    if sidecar is None or not sidecar.is_file():
        return package_problem(path)
    announced = read_sidecar(sidecar)
    actual = digest or (sha256_file(path) if path.is_file() else None)
    if announced is not None and actual == announced:
        return None
    if package_problem(path) is None:
        return None
    if announced is None:
        return Problem("sidecar-unreadable", f"{sidecar.name} 的开头不是 64 位十六进制 SHA-256",
                       f"{sidecar.name} does not start with a 64-digit hex SHA-256")
    return Problem("sidecar-mismatch", f"{path.name} 的 SHA-256 为 {actual}，与 {sidecar.name} 中的 {announced} 不符",
                   f"{path.name}: its SHA-256 is {actual}, {sidecar.name} says {announced}")


def is_complete(path: Path, sidecar: Path | None = None, digest: str | None = None) -> bool:
    """Complete if a sidecar's digest matches, or else if the file is a verified package."""
    if sidecar is not None and sidecar.is_file() and matches_sidecar(path, sidecar, digest):
        return True
    return is_complete_package(path)


def fresh_names(name: str):
    """``name``, then ``<stem>.2<suffix>``, ``<stem>.3<suffix>`` ... within NAME_MAX characters."""
    yield name
    stem, suffix = os.path.splitext(name)
    if not stem or len(suffix) > 16:
        stem, suffix = name, ""
    for n in range(2, MAX_FRESH_NAMES):
        tail = f".{n}{suffix}"
        yield stem[: NAME_MAX - len(tail)] + tail


def link_fresh(src: Path, dest_dir: Path, name: str, sidecar: Path | None = None) -> str:
    """Link ``src`` (and ``sidecar`` beside it) into ``dest_dir`` under the first free name.

    link(2) fails with EEXIST instead of replacing, so a file already in ``dest_dir`` is
    never overwritten, whoever created it and whenever. The sidecar goes first: a data
    file never appears in ``dest_dir`` before its sidecar, so whoever takes the data file
    also finds (and takes) its sidecar. Returns the name used; ``src`` is left in place.
    """
    for candidate in fresh_names(name):
        side_dest = dest_dir / (candidate + SIDECAR_SUFFIX)
        if sidecar is not None:
            try:
                os.link(sidecar, side_dest)
            except FileExistsError:
                continue
        elif os.path.lexists(side_dest):
            continue  # a sidecar waiting there belongs to a file of that name
        try:
            os.link(src, dest_dir / candidate)
        except FileExistsError:
            if sidecar is not None:
                os.unlink(side_dest)
            continue
        return candidate
    raise FileExistsError(errno.EEXIST, f"no free name for {name} in {dest_dir}")


def move_fresh(src: Path, dest_dir: Path, name: str, sidecar: Path | None = None) -> str:
    """``link_fresh``, then drop the source names: the file is never in neither place."""
    used = link_fresh(src, dest_dir, name, sidecar)
    os.unlink(src)
    if sidecar is not None:
        os.unlink(sidecar)
    fsync_dir(dest_dir)
    fsync_dir(src.parent)
    return used


def promote(partial_dir: Path, inbox: Path, name: str, digest: str | None = None) -> str | None:
    """Move ``partial_dir/name`` (and its sidecar) into ``inbox`` if it is complete.

    Returns the name it was delivered under (``name``, or ``<stem>.2<suffix>``... when
    the core has not yet taken an earlier file of that name), or None. A link is atomic:
    the core sees either no file or the whole file, never a growing one, and never one
    that replaced a file it had not read yet.
    """
    src = partial_dir / name
    side = partial_dir / (name + SIDECAR_SUFFIX)
    if not src.is_file() or src.is_symlink():
        return None
    if not is_complete(src, side, digest):
        return None
    return move_fresh(src, inbox, name, side if side.is_file() and not side.is_symlink() else None)


def promote_late_sidecar(partial_dir: Path, inbox: Path, name: str) -> bool:
    """A sidecar sent after its file was already delivered joins it if it agrees with it.

    If the delivered file already has a sidecar, the one sent later is dropped when it
    says the same, and otherwise stays in ``.partial`` (never replacing the first).
    """
    side = partial_dir / (name + SIDECAR_SUFFIX)
    target = inbox / name
    if not (side.is_file() and target.is_file() and not target.is_symlink() and matches_sidecar(target, side)):
        return False
    try:
        os.link(side, inbox / (name + SIDECAR_SUFFIX))
    except FileExistsError:
        if read_sidecar(inbox / (name + SIDECAR_SUFFIX)) != read_sidecar(side):
            return False
    os.unlink(side)
    fsync_dir(inbox)
    return True


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def base_of_sidecar(name: str) -> str | None:
    return name[: -len(SIDECAR_SUFFIX)] if name.endswith(SIDECAR_SUFFIX) and len(name) > len(SIDECAR_SUFFIX) else None
