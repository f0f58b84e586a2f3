"""The archive: every raw package or extract, stored by its SHA-256 before it is parsed."""
from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

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
        partial = target.with_name(f".{target.name}.{os.getpid()}.part")
        shutil.copyfile(path, partial)
        os.replace(partial, target)
    return sha, target
