"""After a crash: the batches a killed run left ``loading``, and the work folders it left behind.

A batch is recorded ``loading`` in a transaction of its own; its data and its final status
then commit together. A run killed in between (``kill -9``, a machine lost) leaves a
``loading`` batch with no data and its work folder. ``recover`` — called by every
``ncms ingest``, ``ncms etl`` and ``ingest_inbox`` before they load — marks such a batch
``failed``, writes the county its receipt, and removes the folders of dead processes.

A batch is only ever marked while nobody loads it: its loader holds a ``BatchGuard`` for as
long as it loads (Airflow and ``--jobs`` load counties side by side, in other processes).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from ncms import log
from ncms.config import Settings
from ncms.db import session_scope
from ncms.models import Batch, BatchSource, BatchStatus
from ncms.models.base import utcnow

from .archive import remove_dead_copies
from .liveness import FileLock, Owner, dead_folders, process_folder, remove_dead_folders
from .receipt import write_receipt

logger = logging.getLogger("ncms.ingest.recovery")
BATCH_LOCK_SPACE = 0x4E434D42  # "NCMB": the advisory-lock namespace of batches being loaded
# Advisory locks are the whole server's, not a schema's: the namespace is mixed with a hash of
# the schema, so that two installations (or test runs) in schemas of one database, whose batch
# ids repeat, never wait on each other's batches.
IN_THIS_SCHEMA = "(CAST(:space AS integer) # hashtext(current_schema()))"
LOADER_DIED = "loader_died"
BATCH_MARK = "batch-"  # <process folder>/batch-<id>.lock: the batch is being loaded, or its receipt written


def work_dir(settings: Settings) -> Path:
    return settings.data_dir / "work"


class BatchGuard:
    """Held by the process loading a batch for as long as it loads it.

    PostgreSQL: a session-level advisory lock on the batch id, on a connection of the
    guard's own (the server drops it when the connection dies). SQLite: a lock file in the
    process's work folder. Either is taken in the transaction that records the batch,
    before it commits, so no other process ever sees the batch ``loading`` and unlocked.
    """

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine, self.settings = engine, settings
        self.conn: Connection | None = None
        self.file: FileLock | None = None
        self.marker: Path | None = None
        self.batch_id: int | None = None

    def __enter__(self) -> BatchGuard:
        if self.engine.dialect.name == "postgresql":
            self.conn = self.engine.connect()
        return self

    @contextmanager
    def session(self) -> Iterator[Session]:
        """The transaction that records the batch (on PostgreSQL: on the guard's connection)."""
        if self.conn is None:
            with session_scope(self.engine) as session:
                yield session
            return
        with Session(bind=self.conn, expire_on_commit=False) as session, session.begin():
            yield session

    def hold(self, session: Session, batch: Batch) -> None:
        """Lock ``batch`` (flushed, not committed) and record who loads it."""
        folder = process_folder(work_dir(self.settings))
        owner: dict[str, Any] = {**Owner.me().record(), "work": folder.name}
        self.marker = folder / f"{BATCH_MARK}{batch.id}.lock"  # until its receipt is written: see recover
        if self.conn is not None:
            session.execute(sa.text(f"SELECT pg_advisory_lock({IN_THIS_SCHEMA}, :id)"),
                            {"space": BATCH_LOCK_SPACE, "id": batch.id})
            self.marker.touch()
            owner["lock"] = "advisory"
        else:
            self.file = FileLock.take(self.marker, create=True)
            owner["lock"] = "file"
        self.batch_id = batch.id
        batch.counts = {"owner": owner}

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.file is not None:
            self.file.release(unlink=True)
        if self.marker is not None:
            self.marker.unlink(missing_ok=True)
        if self.conn is None:
            return
        try:
            if self.batch_id is not None:
                self.conn.execute(sa.text(f"SELECT pg_advisory_unlock({IN_THIS_SCHEMA}, :id)"),
                                  {"space": BATCH_LOCK_SPACE, "id": self.batch_id})
                self.conn.commit()
        except Exception:  # noqa: BLE001 - a connection that cannot unlock must not go back to the pool
            self.conn.invalidate()
        finally:
            self.conn.close()


@dataclass
class StuckBatch:
    """A batch recorded ``loading``: being loaded now, or left behind by a run that died."""

    batch_id: int
    county_code: str
    filename: str | None
    source: BatchSource
    since: datetime | None
    owner: dict[str, Any] | None
    alive: bool

    @property
    def owner_text(self) -> str:
        o = self.owner
        return f"pid {o.get('pid')} on {o.get('host')}" if o else "unknown (no owner recorded)"


@dataclass
class Recovery:
    failed: list[StuckBatch] = field(default_factory=list)
    receipts: list[int] = field(default_factory=list)  # batches whose receipt a dead loader never wrote
    folders: list[Path] = field(default_factory=list)
    copies: list[Path] = field(default_factory=list)  # archive copies a killed run left half-written


def stuck_batches(engine: Engine, settings: Settings) -> list[StuckBatch]:
    """Every ``loading`` batch, and whether its loader is alive (looked at, not changed)."""
    stuck = []
    with engine.connect() as conn:
        for row in _loading(conn):
            release = _take_if_dead(conn, settings, row)
            if release is not None:
                release()
            stuck.append(_stuck(row, alive=release is None))
    return stuck


def recover(engine: Engine, settings: Settings) -> Recovery:
    """Mark every ``loading`` batch whose loader died ``failed`` (with a receipt, see
    ``owed_receipt``), write the receipts dead loaders owed for batches they had recorded,
    and remove the work folders of dead processes. Safe to run at any time, by any number
    of processes at once: a batch being loaded is never touched."""
    recovery = Recovery()
    with engine.connect() as conn:
        for row in _loading(conn):
            release = _take_if_dead(conn, settings, row)
            if release is None:
                continue
            try:
                if _mark_failed(engine, settings, row):
                    recovery.failed.append(_stuck(row, alive=False))
            finally:
                release()
    recovery.receipts = _owed_receipts(engine, settings, dead_folders(work_dir(settings)),
                                       done={b.batch_id for b in recovery.failed})
    recovery.folders = remove_dead_folders(work_dir(settings))
    recovery.copies = remove_dead_copies(settings.archive_dir)
    if recovery.failed or recovery.receipts or recovery.folders or recovery.copies:
        log.event(logger, "ingest.recovered", failed=[b.batch_id for b in recovery.failed],
                  receipts=recovery.receipts, folders=[f.name for f in recovery.folders],
                  copies=[c.name for c in recovery.copies])
    return recovery


def _owed_receipts(engine: Engine, settings: Settings, folders: list[Path], done: set[int]) -> list[int]:
    """Write the receipt of every batch a dead process recorded but died before telling the
    county of (its data and status commit first, the receipt follows): the batches whose
    mark is still in a dead process's folder and that are no longer ``loading``."""
    ids = {int(n) for folder in folders for mark in folder.glob(f"{BATCH_MARK}*.lock")
           if (n := mark.name[len(BATCH_MARK):-len(".lock")]).isdigit()} - done
    if not ids:
        return []
    written = []
    with session_scope(engine) as session:
        for batch in session.scalars(sa.select(Batch).where(Batch.id.in_(ids), Batch.status != BatchStatus.LOADING)):
            if batch.status is not BatchStatus.FAILED or owed_receipt(batch):
                write_receipt(session, batch, settings.spool_dir)
                written.append(batch.id)
    return sorted(written)


def _loading(conn: Connection) -> list[Any]:
    return list(conn.execute(sa.select(Batch.id, Batch.county_code, Batch.filename, Batch.source, Batch.started_at,
                                       Batch.received_at, Batch.counts)
                             .where(Batch.status == BatchStatus.LOADING).order_by(Batch.id)))


def _stuck(row: Any, *, alive: bool) -> StuckBatch:
    return StuckBatch(row.id, row.county_code, row.filename, row.source, row.started_at or row.received_at,
                      (row.counts or {}).get("owner"), alive)


def _take_if_dead(conn: Connection, settings: Settings, row: Any) -> Callable[[], None] | None:
    """Take the batch's lock if its loader is dead, and return what releases it; None if the
    loader is alive. A batch with no lock recorded (a refusal being written, or a batch of an
    older version) is dead unless PostgreSQL says otherwise."""
    if conn.dialect.name == "postgresql":
        key = {"space": BATCH_LOCK_SPACE, "id": row.id}
        if not conn.scalar(sa.text(f"SELECT pg_try_advisory_lock({IN_THIS_SCHEMA}, :id)"), key):
            conn.rollback()
            return None
        conn.commit()

        def unlock() -> None:
            conn.execute(sa.text(f"SELECT pg_advisory_unlock({IN_THIS_SCHEMA}, :id)"), key)
            conn.commit()
        return unlock
    owner = (row.counts or {}).get("owner") or {}
    if not owner.get("work"):
        return lambda: None
    path = work_dir(settings) / owner["work"] / f"{BATCH_MARK}{row.id}.lock"
    lock = FileLock.take(path)
    if lock is None:
        return None if path.exists() else (lambda: None)
    return lambda: lock.release(unlink=True)


def _mark_failed(engine: Engine, settings: Settings, row: Any) -> bool:
    """``failed``, saying who died, if it is still ``loading`` (another run may have marked it)."""
    stuck = _stuck(row, alive=False)
    with session_scope(engine) as session:
        zh, en = died(stuck)
        done = session.execute(sa.update(Batch).where(Batch.id == row.id, Batch.status == BatchStatus.LOADING)
                               .values(status=BatchStatus.FAILED, error=en, error_code=LOADER_DIED,
                                       finished_at=utcnow()))
        if done.rowcount != 1:
            return False
        batch = session.get(Batch, row.id)
        batch.counts = {**(batch.counts or {}), "error": {"zh": zh, "en": en}}  # receipts say both
        session.flush()
        if owed_receipt(batch):
            write_receipt(session, batch, settings.spool_dir)
    log.event(logger, "ingest.loader_died", level=logging.WARNING, batch=row.id, county=row.county_code,
              file=row.filename, owner=stuck.owner)
    return True


def owed_receipt(batch: Batch) -> bool:
    """A county that sent a package is owed word of every batch made of it, a failed one
    too (it tells the county the fault is ours and that it need not send the package
    again). An ETL window was not sent by the county: the next run reads it again."""
    return batch.source is not BatchSource.ETL


def died(batch: StuckBatch) -> tuple[str, str]:
    """Why a batch whose loader died failed, in Chinese and English (``error`` keeps the
    English, ``counts["error"]`` both, as for a refused package)."""
    return ("省级平台入库进程在载入本批次时中断，本批次未载入任何数据；数据包已存档，平台将重新载入，县级无需重新上传",
            f"the loader ({batch.owner_text}) died while loading this batch; nothing of it was loaded. The package "
            "is archived and is loaded again (a package in the gateway inbox by the next `ncms ingest --inbox`, "
            "an ETL window by the next `ncms etl`): the county need not send it again")
