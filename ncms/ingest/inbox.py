"""The handoff from the gateway: every complete package in a county's spool inbox.

The gateway moves an upload into ``<spool>/<county>/inbox/`` only once it is complete, so
whatever is there can be ingested. The folder names the sender: a package whose manifest
names another county is refused, with a receipt in the sender's outbox.

A package is *taken* before it is read: renamed out of the inbox into a claim of this run,
``<spool>/<county>/.taken/<time>-<host>-<pid>-<id>/<name>`` (the same filesystem, so the
rename is atomic). From then on the inbox name is free: a package the county sends again
under that name while this one loads is a new delivery, loaded on its own, never deleted
unread. Two runs racing for one package: one rename wins, the other skips it. A claim is
removed once its batch is recorded and archived.

A claim is locked (``liveness``) by the run that holds it. A claim whose lock is free was
left by a run that died (or that failed on it): the next run adopts it and loads it before
the county's inbox — unless a batch of it was already recorded after it was taken, in
which case the claim is only removed (loading is idempotent anyway; this spares the county
a second batch and receipt).
"""
from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.engine import Engine

from ncms import log
from ncms.config import Settings
from ncms.db import session_scope
from ncms.exchange.package import PackageError
from ncms.models import Batch, BatchSource, BatchStatus, County

from .archive import sha256_file
from .liveness import LOCK, FileLock, Owner
from .parallel import by_county
from .pipeline import IngestResult, ingest_package
from .receipt import write_receipt
from .recovery import recover

logger = logging.getLogger("ncms.ingest.inbox")
SIDECAR = ".sha256"
TAKEN = ".taken"
RECORDED = (BatchStatus.LOADED, BatchStatus.PARTIAL, BatchStatus.REJECTED)
STAMP = "%Y%m%dT%H%M%S%fZ"


@dataclass
class Claim:
    """A package taken out of an inbox by this run, locked for as long as the run holds it."""

    county: str
    path: Path
    lock: FileLock
    taken_at: datetime
    adopted: bool = False  # left by a run that died: it may already have a batch

    @property
    def folder(self) -> Path:
        return self.path.parent

    def finish(self) -> None:
        """The batch is recorded and the archive holds the bytes: forget the package."""
        self.path.unlink(missing_ok=True)
        self.path.with_name(self.path.name + SIDECAR).unlink(missing_ok=True)
        self.lock.release(unlink=True)
        shutil.rmtree(self.folder, ignore_errors=True)

    def leave(self) -> None:
        """Unlock without removing: the next run adopts the claim and tries again."""
        self.lock.release()


def taken_dir(settings: Settings, county: str) -> Path:
    return settings.spool_dir / county / TAKEN


def take(settings: Settings, county: str, path: Path) -> Claim | None:
    """Take ``path`` out of ``county``'s inbox, or None if another run took it first."""
    now = datetime.now(timezone.utc)
    owner = Owner.me()
    folder = taken_dir(settings, county) / f"{now.strftime(STAMP)}-{owner.host}-{owner.pid}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    lock = FileLock.take(folder / LOCK, create=True)
    try:
        if lock is None:
            raise FileNotFoundError(folder)  # a recovering run judged the empty claim dead: let it have it
        os.rename(path, folder / path.name)
    except FileNotFoundError:
        if lock is not None:
            lock.release(unlink=True)
        shutil.rmtree(folder, ignore_errors=True)
        return None
    try:
        os.rename(path.with_name(path.name + SIDECAR), folder / (path.name + SIDECAR))
    except FileNotFoundError:
        pass
    return Claim(county, folder / path.name, lock, now)


def adopt_dead_claims(settings: Settings, county: str) -> list[Claim]:
    """The claims of ``county`` whose run died, now locked by this one, oldest first; empty
    claims of dead runs are removed."""
    folder = taken_dir(settings, county)
    if not folder.is_dir():
        return []
    adopted = []
    for claim_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        lock = FileLock.take(claim_dir / LOCK)
        if lock is None:
            if not (claim_dir / LOCK).exists() and _age(claim_dir) > 3600:
                shutil.rmtree(claim_dir, ignore_errors=True)  # died between two system calls
            continue
        try:
            packages = [p for p in claim_dir.iterdir() if p.name != LOCK and not p.name.endswith(SIDECAR)]
        except FileNotFoundError:  # its run finished with it just now
            packages = []
        if not packages:
            lock.release(unlink=True)
            shutil.rmtree(claim_dir, ignore_errors=True)
            continue
        adopted.append(Claim(county, packages[0], lock, _taken_at(claim_dir), adopted=True))
    return adopted


def inbox_packages(settings: Settings, counties: list[str]) -> list[tuple[str, Path]]:
    """(county, path) of every package waiting, oldest first within a county."""
    found = []
    for county in counties:
        folder = settings.spool_dir / county / "inbox"
        if not folder.is_dir():
            continue
        files = [p for p in folder.iterdir()
                 if p.is_file() and not p.name.startswith(".") and not p.name.endswith(SIDECAR)]
        found += [(county, p) for p in sorted(files, key=_mtime_and_name)]
    return found


def ingest_inbox(engine: Engine, settings: Settings, *, county: str | None = None,
                 on_result: Callable[[Path, IngestResult], None] | None = None,
                 jobs: int | None = None) -> list[IngestResult]:
    """Ingest what the gateway has delivered, ``jobs`` counties at once (default: the
    settings'; one on SQLite whatever is asked), each county's packages oldest first —
    the packages of runs that died before them; returns one result per package."""
    recover(engine, settings)
    with engine.connect() as conn:
        counties = [county] if county else list(conn.scalars(select(County.code).order_by(County.code)))
    adopted = [claim for c in counties for claim in adopt_dead_claims(settings, c)]
    waiting: list[tuple[str, Claim | tuple[str, Path]]] = [(c.county, c) for c in adopted]
    waiting += [(sender, (sender, path)) for sender, path in inbox_packages(settings, counties)]
    try:
        results = by_county(waiting, lambda w: _load(engine, settings, w), jobs=settings.loading_jobs(jobs),
                            on_done=lambda w, r: _report(w, r, on_result), size=_size)
    finally:
        for claim in adopted:
            claim.leave()  # those not reached (a county's earlier package failed): next run
    return [r for r in results if r is not None]


def _load(engine: Engine, settings: Settings, waiting: Claim | tuple[str, Path]) -> IngestResult | None:
    claim = waiting if isinstance(waiting, Claim) else take(settings, *waiting)
    if claim is None:
        return None  # another run took it
    try:
        result = _recorded(engine, settings, claim) if claim.adopted else None
        if result is None:
            result = ingest_package(engine, settings, claim.path, sender=claim.county, source=BatchSource.GATEWAY)
    except PackageError as exc:  # only when no batch can be recorded for the sender
        log.event(logger, "ingest.inbox.unrecorded", level=logging.ERROR, county=claim.county, file=claim.path.name,
                  error=str(exc))
        claim.leave()
        return None
    except BaseException:
        claim.leave()
        raise
    claim.finish()
    return result


def _recorded(engine: Engine, settings: Settings, claim: Claim) -> IngestResult | None:
    """The batch a dead run recorded of ``claim`` after taking it, if any (its receipt is
    written again, in case the run died before writing it)."""
    sha = sha256_file(claim.path)
    with session_scope(engine) as session:
        batch = session.scalar(sa.select(Batch).where(
            Batch.county_code == claim.county, Batch.sha256 == sha, Batch.filename == claim.path.name,
            Batch.status.in_(RECORDED), Batch.received_at >= claim.taken_at).order_by(Batch.id.desc()).limit(1))
        if batch is None:
            return None
        receipt, _ = write_receipt(session, batch, settings.spool_dir)
        log.event(logger, "ingest.inbox.already_recorded", county=claim.county, file=claim.path.name, batch=batch.id)
        return IngestResult(batch.id, batch.county_code, batch.status, batch.rows_read, batch.rows_loaded,
                            batch.rows_rejected, 0.0, receipt, batch.error, batch.error_code)


def _report(waiting: Claim | tuple[str, Path], result: IngestResult | None,
            on_result: Callable[[Path, IngestResult], None] | None) -> None:
    if result is not None and on_result:
        on_result(waiting.path if isinstance(waiting, Claim) else waiting[1], result)


def _size(waiting: Claim | tuple[str, Path]) -> int:
    """Bytes of a waiting package, for scheduling only: a package another run took
    meanwhile must not stop the others from being scheduled."""
    try:
        return (waiting.path if isinstance(waiting, Claim) else waiting[1]).stat().st_size
    except OSError:
        return 0


def _mtime_and_name(path: Path) -> tuple[float, str]:
    try:
        return path.stat().st_mtime, path.name
    except OSError:  # taken by another run meanwhile
        return 0.0, path.name


def _taken_at(claim_dir: Path) -> datetime:
    try:
        return datetime.strptime(claim_dir.name.split("-", 1)[0], STAMP).replace(tzinfo=timezone.utc)
    except ValueError:
        return datetime.fromtimestamp(claim_dir.stat().st_mtime, timezone.utc)


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return 0.0
