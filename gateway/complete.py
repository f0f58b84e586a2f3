"""When is an upload complete? Pure functions on files: no paramiko, no sessions.

A partial upload becomes visible to the core only once it proves itself whole: either a
``<name>.sha256`` sidecar gives its SHA-256, or it is a ZIP package whose manifest lists
every member's SHA-256 and all of them match. Anything else stays in ``.partial/``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
import zlib
from pathlib import Path

SIDECAR_SUFFIX = ".sha256"
CHUNK = 1024 * 1024
MAX_MANIFEST_BYTES = 1024 * 1024
MAX_MEMBERS = 1000
MAX_RATIO = 200  # uncompressed : compressed, like the core's zip_bomb check
MAX_UNCOMPRESSED = 64 * 1024**3
HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")


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


def is_complete_package(path: Path) -> bool:
    """True if ``path`` is a ZIP whose manifest.json sha256 of every listed file matches.

    Sizes are bounded before anything is decompressed, so a truncated file, a zip bomb
    or a nonsense manifest is simply "not complete" and never raises.
    """
    try:
        size = os.path.getsize(path)
        with zipfile.ZipFile(path) as zf:
            infos = {i.filename: i for i in zf.infolist()}
            if len(infos) > MAX_MEMBERS or "manifest.json" not in infos:
                return False
            total = sum(i.file_size for i in infos.values())
            if total > min(MAX_UNCOMPRESSED, MAX_RATIO * max(size, 1) + CHUNK):
                return False
            if infos["manifest.json"].file_size > MAX_MANIFEST_BYTES:
                return False
            manifest = json.loads(zf.read("manifest.json").decode("utf-8-sig"))
            files = manifest.get("files") if isinstance(manifest, dict) else None
            if not isinstance(files, list) or not files:
                return False
            for entry in files:
                if not isinstance(entry, dict):
                    return False
                name, digest = entry.get("name"), entry.get("sha256")
                if not isinstance(name, str) or not isinstance(digest, str) or name not in infos:
                    return False
                if _member_digest(zf, infos[name]) != digest.lower():
                    return False
            return True
    except (OSError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError,
            NotImplementedError, RuntimeError, ValueError, KeyError):
        return False


def is_complete(path: Path, sidecar: Path | None = None, digest: str | None = None) -> bool:
    """Complete if a sidecar's digest matches, or else if the file is a verified package."""
    if sidecar is not None and sidecar.is_file() and matches_sidecar(path, sidecar, digest):
        return True
    return is_complete_package(path)


def promote(partial_dir: Path, inbox: Path, name: str, digest: str | None = None) -> bool:
    """Move ``partial_dir/name`` (and its sidecar) into ``inbox`` if it is complete.

    Returns True when the file was moved. ``os.replace`` on the same filesystem is atomic:
    the core sees either no file or the whole file, never a growing one. The sidecar
    follows the data, so a sidecar in inbox always sits beside its complete file.
    """
    src = partial_dir / name
    side = partial_dir / (name + SIDECAR_SUFFIX)
    if not src.is_file() or src.is_symlink():
        return False
    if not is_complete(src, side, digest):
        return False
    os.replace(src, inbox / name)
    if side.is_file():
        os.replace(side, inbox / (name + SIDECAR_SUFFIX))
    fsync_dir(inbox)
    return True


def promote_late_sidecar(partial_dir: Path, inbox: Path, name: str) -> bool:
    """A sidecar sent after its file was already delivered joins it if it agrees with it."""
    side = partial_dir / (name + SIDECAR_SUFFIX)
    target = inbox / name
    if side.is_file() and target.is_file() and not target.is_symlink() and matches_sidecar(target, side):
        os.replace(side, inbox / (name + SIDECAR_SUFFIX))
        return True
    return False


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
