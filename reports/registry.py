"""The record of every report built: its revisions, what each supersedes, its package.

A report is a kind, a period, the province or one county, and a language. Each build of it is a
new revision (1, 2, ...); the newest built revision is the *current* one and supersedes the one
current before it, which the new package's manifest names (``supersedes``) so the ministry drops
the old figures. A failed build keeps its number and supersedes nothing.

The folder of a revision, under the reports folder, is ``<kind>/<period>/<province|county>/
<lang>/r<revision>``: its PDF, statistics and manifest, and the package sent to the ministry, a
ZIP of them named ``ncms-<code>-<kind>-<period>-<lang>-r<revision>-<sha8>.zip``.

    with recording(engine, settings, "quarterly", period) as draft:
        write the PDF into draft.folder
        write_statistics(content, draft.folder, revision=draft.revision, lang=draft.lang,
                         supersedes=draft.supersedes)
    draft.run_id  # done: packed and recorded (failed, if the block raised)
"""
from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ncms.config import Settings
from ncms.db import session_scope
from ncms.indicators import Period
from ncms.models import ReportRun, ReportStatus
from ncms.models.report import PROVINCE_SCOPE, ReportSend, SendOutcome

from .statistics import MANIFEST, sha256_of

KINDS = {"monthly": "month", "quarterly": "quarter", "annual": "year"}  # as reports.content.KINDS
LANGS = ("zh", "en")
BUILT = (ReportStatus.DONE, ReportStatus.PUBLISHED)
MINISTRY_LANG = "zh"  # the language the ministry receives; others are sent only when asked for


class RegistryError(ValueError):
    """A report that cannot be recorded as asked: the message says what is allowed."""


@dataclass
class Draft:
    """A revision being built: where its files go, and what its manifest must say."""

    run_id: int
    revision: int
    folder: Path
    lang: str
    supersedes: dict[str, Any] | None  # the manifest's ``supersedes`` (None: the first of its report)


def scope_of(county: str | None) -> str:
    return county or PROVINCE_SCOPE


def period_of(run: ReportRun) -> Period:
    return Period.of_day(run.period_start, KINDS[run.kind])


def folder_name(kind: str, period: Period, county: str | None, lang: str, revision: int) -> str:
    return f"{kind}/{period.label}/{scope_of(county)}/{lang}/r{revision}"


def _checked(kind: str, period: Period | str, lang: str) -> Period:
    if kind not in KINDS:
        raise RegistryError(f"report kind {kind!r}: allowed: {', '.join(KINDS)}")
    if lang not in LANGS:
        raise RegistryError(f"report language {lang!r}: allowed: {', '.join(LANGS)}")
    period = period if isinstance(period, Period) else Period.parse(period)
    if period.kind != KINDS[kind]:
        raise RegistryError(f"a {kind} report is for a {KINDS[kind]}, not {period.label}")
    return period


def same_report(kind: str, period: Period, county: str | None, lang: str) -> Select:
    """Every revision of one report."""
    return select(ReportRun).where(ReportRun.kind == kind, ReportRun.period_start == period.start,
                                   ReportRun.period_end == period.end, ReportRun.scope == scope_of(county),
                                   ReportRun.lang == lang)


def current(session: Session, kind: str, period: Period | str, county: str | None = None,
            lang: str = MINISTRY_LANG) -> ReportRun | None:
    """The newest built revision of a report (what the ministry should hold), or None."""
    period = _checked(kind, period, lang)
    return session.scalar(same_report(kind, period, county, lang).where(ReportRun.status.in_(BUILT))
                          .order_by(ReportRun.revision.desc()).limit(1))


def start_run(session: Session, kind: str, period: Period | str, county: str | None = None, lang: str = "zh",
              requested_by: str | None = None) -> ReportRun:
    """A new revision of the report, running; it supersedes the current one (if any). Flushed."""
    period = _checked(kind, period, lang)
    revision = 1 + (session.scalar(same_report(kind, period, county, lang).with_only_columns(
        func.max(ReportRun.revision))) or 0)
    previous = current(session, kind, period, county, lang)
    run = ReportRun(kind=kind, period_start=period.start, period_end=period.end, county_code=county,
                    scope=scope_of(county), lang=lang, revision=revision,
                    supersedes_id=previous.id if previous else None, status=ReportStatus.RUNNING,
                    requested_by=requested_by, folder=folder_name(kind, period, county, lang, revision))
    session.add(run)
    session.flush()
    return run


def supersedes(session: Session, run: ReportRun) -> dict[str, Any] | None:
    """What ``run``'s manifest says it supersedes: the revision, its package and checksum, and
    whether (and when) the ministry received it."""
    previous = session.get(ReportRun, run.supersedes_id) if run.supersedes_id else None
    if previous is None:
        return None
    return {"revision": previous.revision, "package": previous.package, "sha256": previous.package_sha256,
            "generated_at": _iso(previous.finished_at), "published_at": _iso(previous.published_at)}


def finish_run(session: Session, settings: Settings, run: ReportRun) -> ReportRun:
    """Pack the revision's folder (as its manifest lists it) into its package; record it done."""
    folder = settings.reports_dir / run.folder
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise RegistryError(f"{folder}: no {MANIFEST}: write the statistics (reports.statistics) before finishing")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    files = [entry["name"] for entry in manifest["files"]]
    code = manifest["report"].get("county") or manifest["report"]["province"]
    stem = f"ncms-{code}-{run.kind}-{period_of(run).label}-{run.lang}-r{run.revision}"
    packing = folder / f".{stem}.zip.part"
    with zipfile.ZipFile(packing, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.write(manifest_path, MANIFEST)
        for name in files:
            zf.write(folder / name, name)
    digest = sha256_of(packing)
    package = f"{stem}-{digest[:8]}.zip"
    os.replace(packing, folder / package)
    run.package, run.package_sha256, run.package_bytes = package, digest, (folder / package).stat().st_size
    run.outputs = {MANIFEST: sha256_of(manifest_path), **{e["name"]: e["sha256"] for e in manifest["files"]}}
    run.status, run.finished_at, run.error = ReportStatus.DONE, datetime.now(timezone.utc), None
    session.flush()
    return run


def fail_run(session: Session, run: ReportRun, error: str) -> ReportRun:
    run.status, run.finished_at, run.error = ReportStatus.FAILED, datetime.now(timezone.utc), error[:4000]
    session.flush()
    return run


@contextmanager
def recording(engine: Engine, settings: Settings, kind: str, period: Period | str, county: str | None = None,
              lang: str = "zh", requested_by: str | None = None) -> Iterator[Draft]:
    """Record a build of a report around the block that writes its files into ``draft.folder``:
    a new revision when it starts (committed, so a crash leaves a trace), packed and done when
    the block ends, failed with the error if it raises. Each step its own short transaction."""
    for tries in range(5):  # two builds of one report at once: the second takes the next number
        try:
            with session_scope(engine) as session:
                run = start_run(session, kind, period, county, lang, requested_by)
                draft = Draft(run.id, run.revision, settings.reports_dir / run.folder, lang, supersedes(session, run))
            break
        except IntegrityError:
            if tries == 4:
                raise
    draft.folder.mkdir(parents=True, exist_ok=True)
    try:
        yield draft
    except BaseException as exc:
        with session_scope(engine) as session:
            fail_run(session, session.get(ReportRun, draft.run_id), f"{type(exc).__name__}: {exc}")
        raise
    with session_scope(engine) as session:
        finish_run(session, settings, session.get(ReportRun, draft.run_id))


# -- reading --------------------------------------------------------------------------------
def package_path(settings: Settings, run: ReportRun) -> Path | None:
    """The run's package on disk, or None (not built, or its file is gone)."""
    if not (run.folder and run.package):
        return None
    path = settings.reports_dir / run.folder / run.package
    return path if path.is_file() else None


def file_path(settings: Settings, run: ReportRun, name: str) -> Path | None:
    """One file of a built revision, by the name its outputs list (never a path outside it)."""
    if not run.folder or name not in (run.outputs or {}) and name != run.package:
        return None
    path = settings.reports_dir / run.folder / name
    return path if path.is_file() else None


def superseded_by(session: Session, run: ReportRun) -> ReportRun | None:
    return session.scalar(select(ReportRun).where(ReportRun.supersedes_id == run.id)
                          .where(ReportRun.status.in_(BUILT)).order_by(ReportRun.revision.desc()).limit(1))


def list_runs(session: Session, *, kind: str | None = None, period: Period | None = None,
              county: str | None = None, limit: int | None = None) -> list[ReportRun]:
    """Revisions, the newest first; ``county`` "province" for the province's reports alone."""
    query = select(ReportRun)
    if kind:
        query = query.where(ReportRun.kind == kind)
    if period:
        query = query.where(ReportRun.period_start == period.start, ReportRun.period_end == period.end)
    if county:
        query = query.where(ReportRun.scope == county)
    query = query.order_by(ReportRun.period_start.desc(), ReportRun.kind, ReportRun.scope, ReportRun.lang,
                           ReportRun.revision.desc())
    return list(session.scalars(query.limit(limit) if limit else query))


def sends_of(session: Session, run_ids: list[int]) -> dict[int, list[ReportSend]]:
    """Each run's sends, the latest first."""
    out: dict[int, list[ReportSend]] = {i: [] for i in run_ids}
    if run_ids:
        for send in session.scalars(select(ReportSend).where(ReportSend.run_id.in_(run_ids))
                                    .order_by(ReportSend.run_id, ReportSend.attempt.desc())):
            out[send.run_id].append(send)
    return out


def delivered(send: ReportSend | None) -> bool:
    return send is not None and send.outcome in (SendOutcome.SENT, SendOutcome.ALREADY_SENT)


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z") if moment else None
