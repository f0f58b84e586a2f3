"""The reports page and one report's page, their downloads, and the build action.

Who sees what (docs/web.md, docs/reports.md): the reports hold statistics, no personal data, so
every role may open them, through ``scoped``: the province's reports and every county's for the
auditor, the administrator and the ministry viewer; a county officer only their own county's
reports (a provincial report compares the counties: not theirs to read), another's id is *not
found*. Sends to the ministry, failures included, are shown with each report. Only an auditor
or an administrator builds one.
"""
from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from ncms.indicators.period import Period, PeriodError
from ncms.models import County, ReportRun, ReportStatus, Role
from ncms.models.report import ReportSend, SendOutcome

from ..audit import record
from ..database import get_session
from ..scope import county_or_404, roles_required, scoped, scoped_get_or_404, signed_in
from .builder import report_builder
from .forms import KIND_LABELS, KINDS, LANG_LABELS, BuildForm, choices

bp = Blueprint("reports", __name__, template_folder="templates")

RUNS_PER_PAGE = 50
BUILDERS = (Role.ADMIN, Role.AUDITOR)
DELIVERED = (SendOutcome.SENT, SendOutcome.ALREADY_SENT)


@bp.app_context_processor
def _labels() -> dict:
    return {"report_kind_label": lambda k: KIND_LABELS.get(k, k), "report_lang_label": lambda k: LANG_LABELS.get(k, k),
            "report_period": report_period, "report_status_label": status_label, "send_label": send_label}


def report_period(run: ReportRun) -> str:
    return Period.of_day(run.period_start, KINDS.get(run.kind, "month")).label


def status_label(status: ReportStatus) -> str:
    return {ReportStatus.RUNNING: _("building"), ReportStatus.DONE: _("built"),
            ReportStatus.PUBLISHED: _("published"), ReportStatus.FAILED: _("failed")}.get(status, str(status))


def send_label(outcome: SendOutcome) -> str:
    return {SendOutcome.SENDING: _("sending"), SendOutcome.SENT: _("sent, checksum verified"),
            SendOutcome.ALREADY_SENT: _("already there, checksum verified"),
            SendOutcome.FAILED: _("failed")}.get(outcome, str(outcome))


def _settings():  # type: ignore[no-untyped-def]
    return current_app.config["NCMS_SETTINGS"]


def _page() -> int:
    page = request.args.get("page", "1")
    return int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1


def _form(session) -> BuildForm:  # type: ignore[no-untyped-def]
    form = BuildForm()
    counties = session.execute(select(County.code, County.name).order_by(County.code)).all()
    form.county.choices = choices([("", _("The province, a section per county"))]
                                  + [(c, f"{n} {c}") for c, n in counties])
    return form


@bp.get("/reports/")
@signed_in
def index():  # type: ignore[no-untyped-def]
    session = get_session()
    query = scoped(select(ReportRun), ReportRun.county_code)
    county_code = request.args.get("county") or None
    if county_code is not None:  # one county's reports; another county's code: not found, as its page
        query = query.where(ReportRun.county_code == county_or_404(county_code).code)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    page = _page()
    runs = session.scalars(query.order_by(ReportRun.period_start.desc(), ReportRun.kind, ReportRun.scope,
                                          ReportRun.lang, ReportRun.revision.desc())
                           .limit(RUNS_PER_PAGE).offset((page - 1) * RUNS_PER_PAGE)).all()
    last = _last_sends(session, [r.id for r in runs])
    failing = session.execute(scoped(
        select(ReportSend, ReportRun).join(ReportRun, ReportRun.id == ReportSend.run_id)
        .where(ReportSend.id.in_(select(func.max(ReportSend.id)).group_by(ReportSend.run_id)),
               ReportSend.outcome == SendOutcome.FAILED)
        .order_by(ReportSend.finished_at.desc()).limit(20), ReportRun.county_code)).all()
    newer = _superseded(session, [r.id for r in runs])
    return render_template("reports/index.html", runs=runs, last=last, failing=failing, newer=newer, total=total,
                           page=page, pages=max(1, -(-total // RUNS_PER_PAGE)), names=_names(session),
                           form=_form(session) if current_user.role in BUILDERS else None,
                           can_build=report_builder() is not None,
                           endpoint=_settings().ministry.label if _settings().ministry else None)


@bp.get("/reports/<int:run_id>")
@signed_in
def show(run_id: int):  # type: ignore[no-untyped-def]
    session = get_session()
    run = scoped_get_or_404(ReportRun, run_id)
    sends = session.scalars(select(ReportSend).where(ReportSend.run_id == run.id)
                            .order_by(ReportSend.attempt.desc())).all()
    previous = session.get(ReportRun, run.supersedes_id) if run.supersedes_id else None
    later = _superseded(session, [run.id]).get(run.id)
    files = sorted(name for name in (run.outputs or {}) if _file(run, name) is not None)
    tables = _tables(run, files)
    in_tables = {f"{t['key']}.{ext}" for t in tables for ext in ("csv", "xml")}
    return render_template("reports/show.html", run=run, sends=sends, previous=previous, later=later,
                           tables=tables, others=[f for f in files if f not in in_tables],
                           package=_file(run, run.package) if run.package else None, names=_names(session),
                           pdfs=[f for f in files if f.endswith(".pdf")])


@bp.get("/reports/<int:run_id>/files/<name>")
@signed_in
def download(run_id: int, name: str):  # type: ignore[no-untyped-def]
    run = scoped_get_or_404(ReportRun, run_id)
    path = _file(run, name)
    if path is None:
        abort(404)
    mimetypes = {".pdf": "application/pdf", ".csv": "text/csv", ".xml": "application/xml",
                 ".xsd": "application/xml", ".json": "application/json", ".zip": "application/zip"}
    return send_file(path, mimetype=mimetypes.get(path.suffix, "application/octet-stream"),
                     as_attachment=path.suffix != ".pdf", download_name=path.name)


@bp.post("/reports/build")
@roles_required(*BUILDERS)
def build():  # type: ignore[no-untyped-def]
    session = get_session()
    form = _form(session)
    builder = report_builder()
    if builder is None:
        flash(_("Reports cannot be built here: the reports package is not installed."), "error")
        return redirect(url_for("reports.index"))
    if not form.validate_on_submit():
        flash(_("The build form was not accepted (expired or incomplete): please try again."), "error")
        return redirect(url_for("reports.index"))
    kind, county, lang = form.kind.data, form.county.data or None, form.lang.data
    try:
        period = Period.parse(form.period.data)
        if period.kind != KINDS[kind]:
            raise PeriodError(_("a %(kind)s report is for a %(period_kind)s", kind=KIND_LABELS[kind],
                                period_kind={"month": _("month"), "quarter": _("quarter"), "year": _("year")}
                                [KINDS[kind]]))
    except PeriodError as exc:
        flash(_("%(text)s: %(why)s (give 2011-07, 2011-Q2 or 2011).", text=form.period.data, why=exc), "error")
        return redirect(url_for("reports.index"))
    engine = current_app.extensions["ncms.engine"]
    try:
        run = builder(engine, _settings(), kind, period, county, lang, requested_by=current_user.username)
    except Exception as exc:  # noqa: BLE001 - the build is recorded failed; the page says why
        current_app.logger.exception("report build failed")
        flash(_("The report could not be built: %(error)s", error=str(exc)[:300]), "error")
        return redirect(url_for("reports.index"))
    record("report.build", f"report_run:{run.id}", kind=kind, period=period.label, county=county, lang=lang,
           revision=run.revision)
    flash(_("Built: %(report)s %(period)s, revision %(revision)s.", report=KIND_LABELS[kind], period=period.label,
            revision=run.revision), "info")
    return redirect(url_for("reports.show", run_id=run.id))


def _file(run: ReportRun, name: str | None) -> Path | None:
    """A file of the run's folder that its record lists (its outputs or its package), or None."""
    if not (run.folder and name) or (name not in (run.outputs or {}) and name != run.package) or "/" in name:
        return None
    path = _settings().reports_dir / run.folder / name
    return path if path.is_file() else None


def _tables(run: ReportRun, files: list[str]) -> list[dict]:
    """The run's tables as its manifest lists them (key, titles, rows), with their two files."""
    path = _file(run, "manifest.json")
    try:
        listed = json.loads(path.read_text(encoding="utf-8")).get("tables", []) if path else []
    except (OSError, ValueError):
        listed = []
    return [t for t in listed if isinstance(t, dict) and f"{t.get('key')}.csv" in files]


def _last_sends(session, run_ids: list[int]) -> dict[int, ReportSend]:  # type: ignore[no-untyped-def]
    if not run_ids:
        return {}
    latest = select(func.max(ReportSend.id)).where(ReportSend.run_id.in_(run_ids)).group_by(ReportSend.run_id)
    return {s.run_id: s for s in session.scalars(select(ReportSend).where(ReportSend.id.in_(latest)))}


def _superseded(session, run_ids: list[int]) -> dict[int, ReportRun]:  # type: ignore[no-untyped-def]
    """The built revision that replaced each of ``run_ids`` (if any)."""
    if not run_ids:
        return {}
    rows = session.scalars(select(ReportRun).where(ReportRun.supersedes_id.in_(run_ids),
                                                   ReportRun.status.in_((ReportStatus.DONE, ReportStatus.PUBLISHED)))
                           .order_by(ReportRun.revision)).all()
    return {r.supersedes_id: r for r in rows}


def _names(session) -> dict[str, County]:  # type: ignore[no-untyped-def]
    return {c.code: c for c in session.scalars(scoped(select(County), County.code))}

