"""The single data path: package in, batch and receipt out.

archive → open (every package-level check) → per chunk: screen, stage (claim items:
spool), keep the refused rows → set-based checks → upsert → batch record → receipt. The
data of a batch is loaded in one transaction together with its bookkeeping, so a crash at
any point leaves either the whole batch or nothing, and a rerun loads it exactly once.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ncms import log
from ncms.config import Settings
from ncms.db import session_scope
from ncms.exchange.messages import Problem
from ncms.exchange.package import Limits, Package, PackageError, RecordFile
from ncms.exchange.schemas import LOAD_ORDER, RECORD_SCHEMAS
from ncms.exchange.screen import LINE, Screened, screen
from ncms.indicators.refresh import after_batch
from ncms.models import Batch, BatchSource, BatchStatus, County, RejectedRow
from ncms.models.base import utcnow

from . import direct, items
from .archive import archive_file
from .checks import run_checks
from .prefetch import prefetch
from .liveness import process_folder
from .receipt import write_receipt
from .recovery import IN_THIS_SCHEMA, BatchGuard, owed_receipt, work_dir
from .staging import (DETAIL, ERROR, FILE_NO, ITEM_CLAIMS, STAGED, append, create_staging, drop_staging,
                      index_staging)
from .upsert import load_staged

logger = logging.getLogger("ncms.ingest")
Progress = Callable[[int], None]
MAX_KEPT = 1000  # characters of a refused value kept in rejected_row
ALREADY_LOADED = "already_loaded"  # the refusal of a package sent again after it loaded in full
COUNTY_LOCK_SPACE = 0x4E434D53  # "NCMS": the advisory-lock namespace of per-county loading


@dataclass
class IngestResult:
    batch_id: int | None
    county_code: str | None
    status: BatchStatus
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    seconds: float
    receipt: Path | None = None
    error: str | None = None
    error_code: str | None = None

    @property
    def refused(self) -> bool:
        """Refused or failed; a package sent again after it loaded in full is neither (its
        receipt names the batch that loaded it: nothing was lost, nothing is to be done)."""
        return self.status in (BatchStatus.REJECTED, BatchStatus.FAILED) and self.error_code != ALREADY_LOADED


def ingest_package(engine: Engine, settings: Settings, path: Path, *, sender: str | None = None,
                   source: BatchSource = BatchSource.GATEWAY, today: date | None = None,
                   limits: Limits = Limits(), progress: Progress | None = None) -> IngestResult:
    """Validate and load one package; ``sender`` is the county it came from, when known."""
    started = time.perf_counter()
    path = Path(path)
    sha, _ = archive_file(path, settings.archive_dir)
    workdir = Path(tempfile.mkdtemp(prefix="ncms-ingest-", dir=work_root(settings)))
    try:
        try:
            package = Package(path, workdir, limits).open()
        except PackageError as exc:
            if sender is None:
                raise
            return _refuse(engine, settings, sender, path, sha, source, exc, started)
        county = sender or package.county_code
        if package.county_code != county:
            return _refuse(engine, settings, county, path, sha, source, PackageError(
                "wrong_county", manifest_county=package.county_code, sender=county), started, package)
        _require_county(engine, county)
        if (loaded := _loaded_before(engine, county, sha, source)) is not None:
            return _refuse(engine, settings, county, path, sha, source, loaded, started, package)
        with BatchGuard(engine, settings) as guard:  # tells recovery this batch's loader lives
            batch_id = _open_batch(engine, county, path, sha, source, package, guard)
            try:
                with engine.begin() as conn:
                    loader = _Loader(conn, county, batch_id, today or date.today(), progress, workdir)
                    loader.run(package)
            except PackageError as exc:
                return _refuse(engine, settings, county, path, sha, source, exc, started, package, batch_id)
            except Exception as exc:
                _fail(engine, batch_id, exc, settings)
                raise
            return _finish(engine, settings, batch_id, started, loader.touched)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


class _Loader:
    """Everything that happens inside the batch's one transaction."""

    def __init__(self, conn: Connection, county: str, batch_id: int, today: date, progress: Progress | None,
                 workdir: Path) -> None:
        self.conn, self.county, self.batch_id, self.today = conn, county, batch_id, today
        self.progress = progress
        self.rejected_lines: dict[str, set[int | None]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.key_hashes: dict[str, list[pl.Series]] = {}
        self.claim_totals: list[pl.DataFrame] = []  # what the item totals are checked against
        self.screened_out_claims: set[str] = set()  # claims the screen refused: their items go too
        self.file_names: list[str] = []  # the package's files, by the index staged rows carry
        self.record_files: list[RecordFile] = []
        self.touched: dict[str, set[Any]] = {"months": set(), "years": set()}  # what the indicators recompute
        (workdir / "items").mkdir()
        self.items = items.ItemSpool(workdir / "items")
        self.workdir = workdir
        self.direct = direct.Spools(workdir, set())  # a county's first people and claims (``direct``)

    def run(self, package: Package) -> None:
        self.file_names = [f.name for f in package.files]
        self.record_files = package.files
        lock_county(self.conn, self.county)
        self.direct = direct.Spools(self.workdir, direct.record_types(self.conn, self.county))
        tables = create_staging(self.conn)
        files = [f for record_type in LOAD_ORDER for f in package.files if f.record_type == record_type]
        # read ahead across files: a file is often one chunk, and read file by file the
        # loader waited for every file's first chunk (300,000 claims in six packages, on a
        # busy machine: 3-4 s of the 7.5 s spent staging)
        with closing(prefetch(self.screened(package, files))) as screened:
            for record_file in files:
                self.stage_file(record_file, screened, tables.get(record_file.record_type))
        may_repeat = self.keys_that_may_repeat()
        duplicate_items = items.duplicate_lines(self.items, "claim_item" in may_repeat)
        totals = items.claim_totals(self.items, duplicate_items, self.staged_claims(), self.screened_out_claims)
        checked = self.direct.checked(self.conn, totals, may_repeat)
        refused = direct.stage_refused(self.conn, tables, checked)
        if "claim" in self.direct:  # the items' claims are checked here too: only refusals are staged
            totals = direct.item_claims(totals, refused)
        items.stage_claims(self.conn, tables[ITEM_CLAIMS], totals)
        index_staging(self.conn, tables)
        run_checks(self.conn, tables, self.county, may_repeat=may_repeat)
        for record_type in STAGED:
            self.save(self.problems(record_type, self.conn.execute(
                sa.select(tables[record_type]).where(tables[record_type].c[ERROR].is_not(None))).mappings()))
        refused_claims = items.refused_by_claim(self.conn, tables[ITEM_CLAIMS])
        self.save(self.problems("claim_item", items.refused_rows(self.items, duplicate_items, refused_claims)))
        items.drop_resent(self.conn, tables[ITEM_CLAIMS], self.county)
        self.touched["years"].update(load_staged(self.conn, tables, self.county, self.batch_id))
        direct.load(self.conn, checked, self.county, self.batch_id, utcnow())
        items.load(self.conn, self.items, tables[ITEM_CLAIMS], self.county, duplicate_items, refused_claims,
                   every_claim="claim" in self.direct)
        drop_staging(self.conn, tables)
        self.close_batch()

    def screened(self, package: Package, files: list[RecordFile]) -> Iterator[Screened | None]:
        """Each file's chunks, screened, and after a file's last chunk None."""
        for record_file in files:
            schema = RECORD_SCHEMAS[record_file.record_type]
            for chunk in package.chunks(record_file):
                yield screen(schema, chunk, today=self.today, file=record_file.name)
            yield None

    def stage_file(self, record_file: RecordFile, screened: Iterator[Screened | None], table: sa.Table | None) -> None:
        """Stage the good rows of a file's chunks, as ``screened`` gives them, up to its end
        (claim items: spool them)."""
        key = list(RECORD_SCHEMAS[record_file.record_type].key)
        file_no = self.record_files.index(record_file)
        for result in iter(lambda: next(screened), None):
            if table is None:
                self.items.add(result.good, record_file.name)
            else:
                staged = result.good.with_columns(pl.lit(file_no, pl.Int16).alias(FILE_NO))
                if record_file.record_type in self.direct:
                    self.direct.add(record_file.record_type, staged, record_file.name)
                else:
                    append(self.conn, table, staged)
            if record_file.record_type == "enrolment":
                self.touched["years"].update(int(y) for y in result.good["year"].unique())
            if record_file.record_type == "claim":
                settled = result.good["settlement_date"].str.strptime(pl.Date, "%Y-%m-%d", strict=False)
                self.touched["months"].update((d.year, d.month) for d in settled.dt.truncate("1mo").unique() if d)
                self.claim_totals.append(result.good.select("claim_id", "total_amount"))
                self.screened_out_claims.update(p.record["claim_id"] for p in result.problems
                                                if p.record and p.record.get("claim_id"))
            self.key_hashes.setdefault(record_file.record_type, []).append(
                result.good.select(pl.struct(key).hash()).to_series())
            self.save(result.problems)
            if self.progress:
                self.progress(result.good.height + len({p.line for p in result.problems}))
        self.save(Problem(record_file.record_type, record_file.name, r.line, None, r.text, "ragged_row",
                          detail=f"{r.expected},{r.actual}") for r in record_file.ragged)
        found = record_file.rows_read + len(record_file.ragged)
        if found != record_file.rows:
            raise PackageError("row_count", name=record_file.name, expected=record_file.rows, found=found)
        self.files[record_file.name] = {"record_type": record_file.record_type, "rows": found}

    def staged_claims(self) -> pl.DataFrame:
        """``claim_id`` and ``total_amount`` of every claim staged."""
        if not self.claim_totals:
            return pl.DataFrame(schema={"claim_id": pl.String, "total_amount": pl.String})
        return pl.concat(self.claim_totals)

    def keys_that_may_repeat(self) -> set[str]:
        """Record types in which some key may appear twice: equal keys have equal hashes, so
        a type whose key hashes are all distinct needs no duplicate check in the database
        (the usual case; the check grouped every staged row). Eight bytes a row."""
        return {record_type for record_type, hashes in self.key_hashes.items()
                if pl.concat(hashes).is_duplicated().any()}

    def problems(self, record_type: str, rows: Iterable[Mapping[str, Any]]) -> Iterable[Problem]:
        """The refusals of the set checks: rows marked with ``_error`` (and a ``_detail``)."""
        key = RECORD_SCHEMAS[record_type].key
        specs = RECORD_SCHEMAS[record_type].specs()
        field = {"unknown_institution": "institution_code", "unknown_member": "member_no",
                 "unknown_claim": "claim_id", "claim_rejected": "claim_id", "items_sum": "total_amount"}
        for row in rows:
            code = row[ERROR]
            name = field.get(code, key[-1] if code == "duplicate_key" else None)
            record = {k: v for k, v in row.items() if k not in (ERROR, DETAIL, LINE, items.FILE, FILE_NO)}
            file = row[items.FILE] if items.FILE in row else self.file_names[row[FILE_NO]]
            yield Problem(record_type, file, row[LINE], name,
                          row[name] if name else None, code, spec=specs.get(name), record=record,
                          detail=row[DETAIL] or ", ".join(f"{k}={row[k]}" for k in key))

    def save(self, problems: Iterable[Problem]) -> None:
        rows = []
        for p in problems:
            self.rejected_lines.setdefault(p.file or "", set()).add(p.line)
            record = {k: _clip(v) for k, v in p.record.items()} if p.record else None
            rows.append(dict(batch_id=self.batch_id, record_type=p.record_type, file=p.file, line=p.line,
                             field=p.field, value=_clip(p.value), code=p.code,
                             message_zh=p.messages[0], message_en=p.messages[1], record=record))
        if rows:
            self.conn.execute(sa.insert(RejectedRow), rows)

    def close_batch(self) -> None:
        rejected = sum(len(lines) for lines in self.rejected_lines.values())
        read = sum(f["rows"] for f in self.files.values())
        for name, info in self.files.items():
            info["rejected"] = len(self.rejected_lines.get(name, ()))
            info["loaded"] = info["rows"] - info["rejected"]
        status = BatchStatus.PARTIAL if rejected else BatchStatus.LOADED
        self.conn.execute(sa.update(Batch).where(Batch.id == self.batch_id).values(
            status=status, rows_read=read, rows_rejected=rejected, rows_loaded=read - rejected,
            counts={"files": self.files}, finished_at=utcnow()))


def lock_county(conn: Connection, county: str) -> None:
    """Batches of one county load one after the other (the upsert relies on it); batches of
    different counties load side by side. SQLite serialises every writer anyway."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text(f"SELECT pg_advisory_xact_lock({IN_THIS_SCHEMA}, :county)"),
                     {"space": COUNTY_LOCK_SPACE, "county": int(county)})


def _clip(value: Any) -> str | None:
    """Refused values are kept for the county to see, but a 10 MB field is not kept whole."""
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= MAX_KEPT else f"{text[:MAX_KEPT]}… ({len(text)} characters)"


def work_root(settings: Settings) -> Path:
    """This process's own folder under ``<data>/work``, locked while the process lives, so
    that ``recovery.recover`` can tell the work of a killed run from the work of a live one."""
    return process_folder(work_dir(settings))


def _require_county(engine: Engine, county: str) -> None:
    with engine.connect() as conn:
        if conn.scalar(sa.select(County.code).where(County.code == county)) is None:
            raise PackageError("unknown_county", county=county, config="config/province.yaml",
                               command="ncms db load-config")


def _open_batch(engine: Engine, county: str, path: Path, sha: str, source: BatchSource,
                package: Package | None, guard: BatchGuard | None = None) -> int:
    """Record the batch ``loading``; with a ``guard``, locked as its loader's before it commits."""
    manifest = package.manifest if package else {}
    period = manifest.get("period") or {}
    with guard.session() if guard else session_scope(engine) as session:
        # an extract's sequence numbers nothing the county sent: timeliness must not miss it
        seq = None if source is BatchSource.ETL else manifest.get("sequence")
        batch = Batch(county_code=county, source=source, status=BatchStatus.LOADING, filename=path.name,
                      sha256=sha, package_seq=seq, format_version=manifest.get("format_version"),
                      period_start=period.get("start"), period_end=period.get("end"), started_at=utcnow())
        session.add(batch)
        session.flush()
        if guard:
            guard.hold(session, batch)
        return batch.id


def _refuse(engine: Engine, settings: Settings, county: str, path: Path, sha: str, source: BatchSource,
            exc: PackageError, started: float, package: Package | None = None,
            batch_id: int | None = None) -> IngestResult:
    """Record the package refused as a whole, with the reason in both languages (``counts``
    keeps the Chinese: ``error`` is one column), and write its receipt. A package refused
    before it was opened is still named by its sequence, if its manifest could be read."""
    _require_county(engine, county)
    if batch_id is None:
        batch_id = _open_batch(engine, county, path, sha, source, package or _Read(exc.manifest))
    with session_scope(engine) as session:
        batch = session.get(Batch, batch_id)
        batch.status, batch.error, batch.error_code, batch.finished_at = (
            BatchStatus.REJECTED, exc.message_en, exc.code, utcnow())
        batch.rows_read = batch.rows_loaded = batch.rows_rejected = 0
        batch.counts = {**(batch.counts or {}), "error": {"zh": exc.message_zh, "en": exc.message_en},
                        **({"same_as_batch": exc.params["batch"]} if exc.code == ALREADY_LOADED else {})}
    return _finish(engine, settings, batch_id, started)


@dataclass
class _Read:
    """What was read of the manifest of a package refused before it was opened."""

    manifest: dict[str, Any]


def _loaded_before(engine: Engine, county: str, sha: str, source: BatchSource) -> PackageError | None:
    """The refusal of a package the county sent before, byte for byte, and that loaded in full.

    Loading it again would change nothing, or undo a later package's corrections. One that
    loaded only in part is loaded again (what was refused for a reference may pass now); one
    refused or failed too. An extract is never refused so: its watermark must move."""
    if source is BatchSource.ETL:
        return None
    with engine.connect() as conn:
        earlier = conn.execute(
            sa.select(Batch.id, Batch.finished_at)
            .where(Batch.county_code == county, Batch.sha256 == sha, Batch.status == BatchStatus.LOADED)
            .order_by(Batch.id.desc()).limit(1)).first()
    if earlier is None:
        return None
    received = f"{earlier.finished_at:%Y-%m-%d %H:%M} UTC" if earlier.finished_at else "?"
    return PackageError(ALREADY_LOADED, batch=earlier.id, received=received)


def _fail(engine: Engine, batch_id: int, exc: BaseException, settings: Settings | None = None) -> None:
    """``failed``: an error of ours. The county that sent the package gets a receipt saying so."""
    with session_scope(engine) as session:
        batch = session.get(Batch, batch_id)
        batch.status, batch.error, batch.finished_at = BatchStatus.FAILED, f"{type(exc).__name__}: {exc}", utcnow()
        if settings is not None and owed_receipt(batch):
            session.flush()
            write_receipt(session, batch, settings.spool_dir)
    log.event(logger, "ingest.failed", level=logging.ERROR, batch=batch_id, error=str(exc))


def _finish(engine: Engine, settings: Settings, batch_id: int, started: float,
            touched: Mapping[str, Any] | None = None) -> IngestResult:
    with session_scope(engine) as session:
        batch = session.get(Batch, batch_id)
        receipt, _ = write_receipt(session, batch, settings.spool_dir)
        result = IngestResult(batch.id, batch.county_code, batch.status, batch.rows_read, batch.rows_loaded,
                              batch.rows_rejected, time.perf_counter() - started, receipt, batch.error,
                              batch.error_code)
    log.event(logger, "ingest.batch", batch=result.batch_id, county=result.county_code, status=result.status.value,
              rows_read=result.rows_read, rows_loaded=result.rows_loaded, rows_rejected=result.rows_rejected,
              seconds=round(result.seconds, 3), error=result.error)
    # the indicators' summary tables, once the batch has committed; the loader says which
    # months and years its rows are of (None: read from the rows)
    after_batch(engine, result.batch_id, **(touched or {}))
    return result
