"""The archive: every raw package or extract, stored by its SHA-256 before it is parsed."""
from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

from .liveness import FileLock

BLOCK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(BLOCK):
            digest.update(block)
    return digest.hexdigest()


def archive_file(path: Path, archive_dir: Path) -> tuple[str, Path]:
    """Copy ``path`` into the archive (once: the name is the content) and return (sha256, archived path)."""
    sha = sha256_file(path)
    target = archive_dir / sha[:2] / f"{sha}{''.join(path.suffixes[-1:])}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_in(path, target)
    return sha, target


def _copy_in(path: Path, target: Path) -> None:
    """Copy under a locked temporary name, then rename: the archive never holds a part of a
    file under its name, and a copy whose writer was killed is known by its free lock
    (``remove_dead_copies``)."""
    while True:
        partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.part")
        lock = FileLock.take(partial, create=True)
        if lock is None:
            continue
        try:
            if os.fstat(lock.fd).st_ino != os.stat(partial).st_ino:
                continue  # removed as dead between its creation and its lock: start again
            with path.open("rb") as src:
                while block := src.read(BLOCK):
                    os.write(lock.fd, block)
            os.fsync(lock.fd)
            os.replace(partial, target)
            return
        except FileNotFoundError:
            continue
        finally:
            lock.release()


def remove_dead_copies(archive_dir: Path) -> list[Path]:
    """Remove the temporary copies of runs killed while copying into the archive."""
    removed = []
    for partial in archive_dir.glob("*/.*.part"):
        lock = FileLock.take(partial)
        if lock is not None:
            lock.release(unlink=True)
            removed.append(partial)
    return removed
