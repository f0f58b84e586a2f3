"""The handoff from the gateway: every complete package in a county's spool inbox.

The gateway moves an upload into ``<spool>/<county>/inbox/`` only once it is complete, so
whatever is there can be ingested. The folder names the sender: a package whose manifest
names another county is refused, with a receipt in the sender's outbox. A package leaves
the inbox once its batch is recorded (the archive keeps the bytes).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from ncms import log
from ncms.config import Settings
from ncms.exchange.package import PackageError
from ncms.models import BatchSource, County

from .parallel import by_county
from .pipeline import IngestResult, ingest_package

logger = logging.getLogger("ncms.ingest.inbox")
SIDECAR = ".sha256"


def inbox_packages(settings: Settings, counties: list[str]) -> list[tuple[str, Path]]:
    """(county, path) of every package waiting, oldest first within a county."""
    found = []
    for county in counties:
        folder = settings.spool_dir / county / "inbox"
        if not folder.is_dir():
            continue
        files = [p for p in folder.iterdir()
                 if p.is_file() and not p.name.startswith(".") and not p.name.endswith(SIDECAR)]
        found += [(county, p) for p in sorted(files, key=lambda p: (p.stat().st_mtime, p.name))]
    return found


def ingest_inbox(engine: Engine, settings: Settings, *, county: str | None = None,
                 on_result: Callable[[Path, IngestResult], None] | None = None,
                 jobs: int | None = None) -> list[IngestResult]:
    """Ingest what the gateway has delivered, ``jobs`` counties at once (default: the
    settings'; one on SQLite whatever is asked), each county's packages oldest first;
    returns one result per package."""
    with engine.connect() as conn:
        counties = [county] if county else list(conn.scalars(select(County.code).order_by(County.code)))

    def load(waiting: tuple[str, Path]) -> IngestResult | None:
        sender, path = waiting
        try:
            result = ingest_package(engine, settings, path, sender=sender, source=BatchSource.GATEWAY)
        except PackageError as exc:  # only when no batch can be recorded for the sender
            log.event(logger, "ingest.inbox.unrecorded", level=logging.ERROR, county=sender, file=path.name,
                      error=str(exc))
            return None
        _take(path)
        return result

    def done(waiting: tuple[str, Path], result: IngestResult | None) -> None:
        if result is not None and on_result:
            on_result(waiting[1], result)

    waiting = [(sender, (sender, path)) for sender, path in inbox_packages(settings, counties)]
    results = by_county(waiting, load, jobs=settings.loading_jobs(jobs), on_done=done,
                        size=lambda w: _size(w[1]))
    return [r for r in results if r is not None]


def _size(path: Path) -> int:
    """Bytes of a waiting package, for scheduling only: a package another run took
    meanwhile must not stop the others from being scheduled."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _take(path: Path) -> None:
    """Remove a recorded package (and its checksum sidecar) from the inbox."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + SIDECAR).unlink(missing_ok=True)
