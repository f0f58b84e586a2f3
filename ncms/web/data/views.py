"""The data pages: batches by county (status, counts, lateness, sequence gaps, stuck loads),
one batch (counts per table, refused rows with both languages' messages, receipt, archive),
and the archived row a record came from.

Who sees what: every role the list and a batch's counts (the ministry viewer: statistics of
the province's data); refused rows' contents, receipts and source rows are personal data
(admin, auditor, the county officer of that county; the ministry gets 403). A county
officer's query for another county's batch is *not found*, never *forbidden*.
"""
from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, abort, current_app, render_template, request, send_file
from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select

from ncms.exchange.messages import mask_ids_in_text, shown_value
from ncms.exchange.schemas import RECORD_SCHEMAS
from ncms.indicators.period import Period, PeriodError
from ncms.ingest.receipt import error_texts, outbox
from ncms.ingest.recovery import stuck_batches
from ncms.ingest.status import Cadence, judge_all, timeliness
from ncms.models import Batch, BatchSource, BatchStatus, County, RejectedRow

from ..audit import record_personal_view
from ..database import get_session
from ..masking import mask_name, may_unmask
from ..scope import (county_or_404, county_scope, in_scope, personal_data, scoped, scoped_get_or_404,
                     signed_in)
from .source import archived_file, find_rows

bp = Blueprint("data", __name__, template_folder="templates")

BATCHES_PER_PAGE = 50
ROWS_PER_PAGE = 100
PERSONAL_FIELDS = ("national_id", "name")  # masked on a source row unless revealed (and audited)
STATUS_LABELS = {
    BatchStatus.RECEIVED: _l("received"),
    BatchStatus.LOADING: _l("loading"),
    BatchStatus.LOADED: _l("loaded"),
    BatchStatus.PARTIAL: _l("loaded in part"),
    BatchStatus.REJECTED: _l("refused"),
    BatchStatus.FAILED: _l("failed"),
}
SOURCE_LABELS = {
    BatchSource.GATEWAY: _l("package"),
    BatchSource.ETL: _l("ETL extract"),
    BatchSource.API: _l("API"),
}
TABLE_LABELS = {
    "member": _l("members"),
    "enrolment": _l("enrolments"),
    "claim": _l("claims"),
    "claim_item": _l("claim items"),
    "financing": _l("financing"),
}


@bp.app_context_processor
def _labels() -> dict:
    return {"batch_status_label": lambda s: STATUS_LABELS.get(s, s),
            "batch_source_label": lambda s: SOURCE_LABELS.get(s, s),
            "record_table_label": lambda t: TABLE_LABELS.get(t, t)}


def _settings():  # type: ignore[no-untyped-def]
    return current_app.config["NCMS_SETTINGS"]


@lru_cache(maxsize=8)
def _cadence(config_dir: str) -> dict[str, Cadence]:
    """Each county's expected cadence (province.yaml), read once per configuration folder."""
    from ncms.reference import read_province

    return read_province(Path(config_dir)).cadence


def _page() -> int:
    page = request.args.get("page", "1")
    return int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1


@bp.get("/data/")
@signed_in
def index():  # type: ignore[no-untyped-def]
    session = get_session()
    county_code = request.args.get("county") or None
    if county_code is not None:
        county_or_404(county_code)  # another county's code: not found, like its pages
    status = request.args.get("status") or None
    status = BatchStatus(status) if status in {s.value for s in BatchStatus} else None
    period, period_error = None, None
    if request.args.get("period"):
        try:
            period = Period.parse(request.args["period"])
        except PeriodError:
            period_error = request.args["period"]

    today = date.today()
    statuses = timeliness(session)
    judged = judge_all(statuses, _cadence(str(_settings().config_dir)), today)
    counties = [s for s in statuses if in_scope(s.county_code)]
    tallies: dict[str, dict[BatchStatus, int]] = {}
    for code, state, n in session.execute(scoped(
            select(Batch.county_code, Batch.status, func.count()).group_by(Batch.county_code, Batch.status),
            Batch.county_code)):
        tallies.setdefault(code, {})[state] = n
    rows = {code: (read, loaded, refused) for code, read, loaded, refused in session.execute(scoped(
        select(Batch.county_code, func.sum(Batch.rows_read), func.sum(Batch.rows_loaded),
               func.sum(Batch.rows_rejected)).group_by(Batch.county_code), Batch.county_code))}
    stuck = [b for b in stuck_batches(current_app.extensions["ncms.engine"], _settings()) if in_scope(b.county_code)]

    query = select(Batch)
    if county_code:
        query = query.where(Batch.county_code == county_code)
    if status:
        query = query.where(Batch.status == status)
    if period:
        query = query.where(or_(
            and_(Batch.period_start <= period.end, Batch.period_end >= period.start),
            and_(Batch.period_start.is_(None), func.date(Batch.received_at) >= period.start,
                 func.date(Batch.received_at) <= period.end)))
    query = scoped(query, Batch.county_code)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    page = _page()
    batches = session.scalars(query.order_by(Batch.received_at.desc(), Batch.id.desc())
                              .limit(BATCHES_PER_PAGE).offset((page - 1) * BATCHES_PER_PAGE)).all()
    names = dict(session.execute(scoped(select(County.code, County.name), County.code)).all())
    return render_template(
        "data/index.html", counties=counties, judged=judged, tallies=tallies, rows=rows, stuck=stuck,
        batches=batches, total=total, page=page, pages=max(1, -(-total // BATCHES_PER_PAGE)), names=names,
        county_code=county_code, status=status, period=period, period_error=period_error,
        statuses=list(BatchStatus), today=today, one_county=county_scope() is not None)


@bp.get("/data/batch/<int:batch_id>")
@signed_in
def batch(batch_id: int):  # type: ignore[no-untyped-def]
    session = get_session()
    found = scoped_get_or_404(Batch, batch_id)
    tables: dict[str, dict[str, int]] = {}
    for info in ((found.counts or {}).get("files") or {}).values():
        table = tables.setdefault(info.get("record_type", "?"), {"rows": 0, "loaded": 0, "rejected": 0})
        for part in table:
            table[part] += int(info.get(part) or 0)
    codes = session.execute(select(RejectedRow.record_type, RejectedRow.code, func.count())
                            .where(RejectedRow.batch_id == found.id)
                            .group_by(RejectedRow.record_type, RejectedRow.code)
                            .order_by(func.count().desc(), RejectedRow.code)).all()
    problems = sum(n for *_, n in codes)
    page, refused = _page(), []
    personal = may_unmask(found.county_code)
    if personal:  # the rows' contents: never the ministry's
        for row in session.scalars(select(RejectedRow).where(RejectedRow.batch_id == found.id)
                                   .order_by(RejectedRow.id).limit(ROWS_PER_PAGE)
                                   .offset((page - 1) * ROWS_PER_PAGE)):
            refused.append({"row": row, "value": shown_value(row.value, row.field),
                            "message_zh": mask_ids_in_text(row.message_zh),
                            "message_en": mask_ids_in_text(row.message_en)})
    archive = archived_file(_settings().archive_dir, found)
    receipts = {kind: _receipt(found, kind) is not None for kind in ("json", "csv")}
    error_zh, error_en = error_texts(found)
    same_as = (found.counts or {}).get("same_as_batch")
    return render_template(
        "data/batch.html", batch=found, tables=tables, codes=codes, problems=problems, refused=refused,
        personal=personal, page=page, pages=max(1, -(-problems // ROWS_PER_PAGE)), archive=archive,
        archive_size=archive.stat().st_size if archive else None, receipts=receipts,
        error_zh=error_zh, error_en=error_en, same_as=same_as if isinstance(same_as, int) else None,
        county_name=session.scalar(select(County.name).where(County.code == found.county_code)),
        readable=found.status in (BatchStatus.LOADED, BatchStatus.PARTIAL) and archive is not None)


def _receipt(batch: Batch, kind: str) -> Path | None:
    """The receipt file the batch's county was sent, if it is still in the outbox."""
    folder = outbox(_settings().spool_dir, batch.county_code)
    return next(iter(sorted(folder.glob(f"receipt-{batch.county_code}-*-batch{batch.id}.{kind}"))), None)


@bp.get("/data/batch/<int:batch_id>/receipt.<kind>")
@personal_data
def receipt(batch_id: int, kind: str):  # type: ignore[no-untyped-def]
    found = scoped_get_or_404(Batch, batch_id)
    path = _receipt(found, kind) if kind in ("json", "csv") else None
    if path is None:
        abort(404)
    mimetype = "application/json" if kind == "json" else "text/csv"
    return send_file(path, mimetype=mimetype, as_attachment=True, download_name=path.name)


@bp.get("/data/batch/<int:batch_id>/source")
@personal_data
def source_row(batch_id: int):  # type: ignore[no-untyped-def]
    found = scoped_get_or_404(Batch, batch_id)
    table, key = request.args.get("table", "claim"), (request.args.get("key") or "").strip()
    file, line = request.args.get("file"), request.args.get("line", "")
    line_no = int(line) if line.isdigit() and 0 < int(line) < 1 << 31 else None
    if table not in RECORD_SCHEMAS or len(key) > 200 or not (key or (file and line_no)):
        abort(404)
    path = archived_file(_settings().archive_dir, found)
    if path is None or found.status not in (BatchStatus.LOADED, BatchStatus.PARTIAL):
        abort(404)
    rows = find_rows(path, table, key) if key else find_rows(path, table, file=file, line=line_no)
    if not rows:
        abort(404)
    where = key or f"{file}:{line_no}"
    reveal = request.args.get("reveal") == "1" and may_unmask(found.county_code)
    if reveal:
        record_personal_view(f"batch:{found.id}/{table}/{where}", found.county_code,
                             tuple(f for f in PERSONAL_FIELDS if any(f in r.header for r in rows)))
    shown = [{"row": r, "cells": [(name, value if reveal else _masked(name, value))
                                  for name, value in zip(r.header, r.values)]} for r in rows]
    return render_template("data/source.html", batch=found, table=table, where=mask_ids_in_text(where) if key else None,
                           rows=shown, reveal=reveal,
                           has_personal=any(f in r.header for r in rows for f in PERSONAL_FIELDS),
                           archive=path)


def _masked(field: str, value: str) -> str:
    if field == "name":
        return mask_name(value)
    return shown_value(value, field)
