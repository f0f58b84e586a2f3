"""The workbench (``/findings/``): every finding the user may see, filtered, sorted and paged,
with counts per status, saved filters, bulk assign / push / dismiss, CSV and Excel exports, and
the rule exceptions (``/findings/exceptions``).

Who sees what: administrators and auditors every county's findings and every action; a county
officer the same list of their county only (another county's code in ``?county=`` is *not
found*; bulk steps and exceptions are the province's: 403); the ministry never (403).
Every step goes through ``ncms.review.workflow``, which scopes the ids again by the actor.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlencode

import sqlalchemy as sa
from flask import Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from ncms.indicators.period import Period, PeriodError
from ncms.models import (
    County,
    ExceptionSubject,
    Finding,
    FindingEvent,
    FindingStatus,
    Institution,
    Role,
    RuleException,
    RuleRun,
    SavedFilter,
    Severity,
    User,
)
from ncms.models.base import utcnow
from ncms.monitor.anomaly import MODEL
from ncms.monitor.catalogue import RULES
from ncms.monitor.listing import FindingFilter
from ncms.review import exceptions as rule_exceptions, workflow
from ncms.review.calendar import BEIJING, local_day, read_calendar

from .. import layout
from ..claim.links import rule_title
from ..database import get_session
from ..i18n import in_language
from ..exports import csv_response, xlsx_response
from ..formatting import FINDING_STATUS_LABELS, county_name
from ..scope import county_or_404, county_scope, may_link, personal_data, roles_required
from . import bp

PER_PAGE = 50
MAX_BULK = 5_000  # "all matching": at most this many findings in one bulk step
MAX_EXPORT = 100_000  # rows in one export; more: narrow the filter
MAX_QUERY = 2_000  # characters of a saved filter's query
SORTS = ("id", "rule", "county", "institution", "severity", "status", "amount", "first_seen", "due", "assignee")
FILTER_KEYS = ("rule", "county", "institution", "severity", "status", "period", "min", "max", "age_min",
               "age_max", "seen_from", "seen_to", "assignee", "overdue", "sort", "dir")
STATUS_LABELS = FINDING_STATUS_LABELS
SUBJECT_LABELS = {
    ExceptionSubject.INSTITUTION: _l("Institution"),
    ExceptionSubject.ITEM: _l("Item"),
    ExceptionSubject.DIAGNOSIS: _l("Diagnosis"),
}
# the rules a finding may come from: the catalogue's and the anomaly model (no scan of the findings)
RULE_CODES = sorted([*RULES, MODEL.code])


def init_app(app: Flask) -> None:
    layout.add_nav(app, "findings.index", _l("Findings"))


@dataclass(frozen=True)
class WorkbenchFilter(FindingFilter):
    """The CLI's filter (county, rule, status, period, institution) and the workbench's own."""

    severities: tuple[Severity, ...] = ()
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None
    seen_from: date | None = None  # first seen on or after
    seen_to: date | None = None  # first seen on or before
    assignee: str = ""  # "", "mine", "unassigned" or a user id
    me: int | None = None
    overdue: bool = False
    today: date = field(default_factory=local_day)

    def conditions(self, with_status: bool = True) -> list[sa.ColumnElement[bool]]:
        base = self if with_status else replace(self, statuses=())
        where = FindingFilter.conditions(base)
        if self.severities:
            where.append(Finding.severity.in_(self.severities))
        if self.min_amount is not None:
            where.append(Finding.amount_at_stake >= self.min_amount)
        if self.max_amount is not None:
            where.append(Finding.amount_at_stake <= self.max_amount)
        if self.seen_from is not None:
            where.append(Finding.first_seen_at >= _start_of(self.seen_from))
        if self.seen_to is not None:
            where.append(Finding.first_seen_at < _start_of(self.seen_to + timedelta(days=1)))
        if self.assignee == "mine":
            where.append(Finding.assignee_id == self.me)
        elif self.assignee == "unassigned":
            where.append(Finding.assignee_id.is_(None))
        elif self.assignee.isdigit():
            where.append(Finding.assignee_id == int(self.assignee))
        if self.overdue:
            where += [Finding.status == FindingStatus.SENT_TO_COUNTY, Finding.due_on < self.today]
        return where


def _start_of(day: date) -> datetime:
    """Midnight of a day of Beijing (the days an auditor means, as the deadlines')."""
    return datetime(day.year, day.month, day.day, tzinfo=BEIJING)


@dataclass
class Asked:
    """What the query string asks for: the filter, the sort, the page, and what could not be read."""

    where: WorkbenchFilter
    sort: str = "first_seen"
    descending: bool = True
    page: int = 1
    errors: list[str] = field(default_factory=list)


def read_query(args: MultiDict, today: date | None = None) -> Asked:
    """The workbench's query string (``request.args`` or a saved one) read into a filter. A county
    officer's county is theirs whatever is asked; another county named: 404."""
    errors: list[str] = []
    own = county_scope()
    county = (args.get("county") or "").strip()
    if own is not None:
        if county and county != own:
            abort(404)
        counties: tuple[str, ...] = (own,)
    elif county:
        county_or_404(county)
        counties = (county,)
    else:
        counties = ()
    statuses = tuple(FindingStatus(s) for s in args.getlist("status") if s in {v.value for v in FindingStatus})
    severities = tuple(Severity(s) for s in args.getlist("severity") if s in {v.value for v in Severity})
    period = None
    if args.get("period", "").strip():
        try:
            found = Period.parse(args["period"].strip())
            period = (found.start, found.end)
        except PeriodError:
            errors.append(_("%(text)s is not a period: give a year (2011), a quarter (2011-Q3) or a month (2011-07).",
                            text=args["period"]))
    today = today or local_day()
    seen_from, seen_to = _day(args, "seen_from", errors), _day(args, "seen_to", errors)
    age_min, age_max = _whole(args, "age_min", errors), _whole(args, "age_max", errors)
    if age_min is not None:  # at least so many days old: first seen on or before today - n
        seen_to = min(filter(None, (seen_to, today - timedelta(days=age_min))))
    if age_max is not None:
        seen_from = max(filter(None, (seen_from, today - timedelta(days=age_max))))
    assignee = (args.get("assignee") or "").strip()
    if assignee not in ("", "mine", "unassigned") and not (assignee.isdigit() and len(assignee) < 10):
        assignee = ""
    rules = tuple(r.strip() for r in args.getlist("rule") if r.strip())[:50]
    institutions = tuple(i.strip() for i in args.getlist("institution") if i.strip())[:50]
    where = WorkbenchFilter(counties=counties, rules=rules, statuses=statuses, period=period,
                            institutions=institutions, severities=severities,
                            min_amount=_money(args, "min", errors), max_amount=_money(args, "max", errors),
                            seen_from=seen_from, seen_to=seen_to, assignee=assignee,
                            me=current_user.id, overdue=args.get("overdue") == "1", today=today)
    sort = args.get("sort", "first_seen")
    sort = sort if sort in SORTS else "first_seen"
    descending = args.get("dir", "desc" if sort in ("first_seen", "amount") and "dir" not in args else "asc") == "desc"
    page = args.get("page", "1")
    return Asked(where, sort, descending, int(page) if page.isdigit() and 0 < int(page) < 100_000 else 1, errors)


def _day(args: MultiDict, key: str, errors: list[str]) -> date | None:
    text = (args.get(key) or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors.append(_("%(text)s is not a day (YYYY-MM-DD).", text=text))
        return None


def _whole(args: MultiDict, key: str, errors: list[str]) -> int | None:
    text = (args.get(key) or "").strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 5:
        errors.append(_("%(text)s is not a number of days.", text=text))
        return None
    return int(text)


def _money(args: MultiDict, key: str, errors: list[str]) -> Decimal | None:
    text = (args.get(key) or "").strip().replace(",", "")
    if not text:
        return None
    try:
        value = Decimal(text)
        if not value.is_finite() or abs(value) >= Decimal("1e12"):
            raise InvalidOperation
        return value
    except InvalidOperation:
        errors.append(_("%(text)s is not an amount of yuan.", text=text))
        return None


def _order(sort: str, descending: bool) -> list[Any]:
    column = {"id": Finding.id, "rule": Finding.rule_code, "county": Finding.county_code,
              "institution": Institution.code, "severity": Finding.severity, "status": Finding.status,
              "amount": Finding.amount_at_stake, "first_seen": Finding.first_seen_at, "due": Finding.due_on,
              "assignee": User.username}[sort]
    if sort == "id":
        return [Finding.id.desc() if descending else Finding.id.asc()]
    ordered = column.desc() if descending else column.asc()
    if sort in ("institution", "due", "assignee"):  # may be empty: last either way, on both databases
        ordered = ordered.nulls_last()
    # the tie-break, in the same direction: rows keep their place from page to page, and an index
    # on (column, id) reads a page of either direction (migration 0018)
    return [ordered, Finding.id.desc() if descending else Finding.id.asc()]


def _rows(where: WorkbenchFilter, sort: str, descending: bool) -> sa.Select:
    return (sa.select(Finding.id, Finding.rule_code, Finding.county_code, County.name.label("county_name"),
                      Institution.code.label("institution_code"), Institution.name.label("institution_name"),
                      Finding.severity, Finding.status, Finding.amount_at_stake, Finding.first_seen_at,
                      Finding.due_on, Finding.subject_key, User.username.label("assignee"))
            .join(County, County.code == Finding.county_code)
            .outerjoin(Institution, Institution.id == Finding.institution_id)
            .outerjoin(User, User.id == Finding.assignee_id)
            .where(*where.conditions(), *workflow.visible(current_user))
            .order_by(*_order(sort, descending)))


def page_ids(session: Any, asked: Asked, page: int) -> list[int]:
    """The ids of one page: sorted and cut on the findings alone (joined to the institution or the
    assignee only when sorted by them), so that the names are looked up for 50 rows, not all."""
    query = sa.select(Finding.id).where(*asked.where.conditions(), *workflow.visible(current_user))
    if asked.sort == "institution":
        query = query.outerjoin(Institution, Institution.id == Finding.institution_id)
    elif asked.sort == "assignee":
        query = query.outerjoin(User, User.id == Finding.assignee_id)
    return list(session.scalars(query.order_by(*_order(asked.sort, asked.descending))
                                .limit(PER_PAGE).offset((page - 1) * PER_PAGE)))


def status_counts(session: Any, where: WorkbenchFilter) -> dict[FindingStatus, int]:
    """Findings per status under every criterion but the status (one GROUP BY), kept for the same
    criteria and scope (``counted``): the next page, another sort or a status chosen among them
    reads no finding again."""
    key = (current_user.role, current_user.county_code, replace(where, statuses=(), me=where.me
                                                                 if where.assignee == "mine" else None))
    return counted(session, key, lambda: dict(session.execute(sa.select(Finding.status, sa.func.count()).where(
        *where.conditions(with_status=False), *workflow.visible(current_user)).group_by(Finding.status)).all()))


COUNTS_SECONDS = 60  # counts per status are kept at most this long, and only while no finding moved
COUNTS_KEPT = 2_000  # filters' counts kept per process


def counted(session: Any, key: Any, count: Any) -> dict[FindingStatus, int]:
    """``count()``'s counts per status for ``key``, or the ones counted for it before if no
    finding has moved since: every step of the review loop writes a ``finding_event`` and every
    run of a rule a ``rule_run`` (ncms.review.workflow, ncms.monitor), so the newest id of each
    (two reads of a primary key) says whether the findings are as they were; after
    ``COUNTS_SECONDS`` they are counted again anyway. Kept per process, across users of the same
    scope (a county officer's own county's counts, a province user's the province's)."""
    stamp = tuple(session.execute(sa.select(sa.select(sa.func.max(FindingEvent.id)).scalar_subquery(),
                                            sa.select(sa.func.max(RuleRun.id)).scalar_subquery())).one())
    kept = current_app.extensions.setdefault("ncms.workbench.counts", {})
    now = time.monotonic()
    hit = kept.get(key)
    if hit is not None and hit[0] == stamp and now - hit[1] < COUNTS_SECONDS:
        return hit[2]
    found = count()
    counts = {s: found.get(s, 0) for s in FindingStatus}
    if len(kept) >= COUNTS_KEPT:
        kept.clear()
    kept[key] = (stamp, now, counts)
    return counts


def _query_string(args: MultiDict) -> str:
    """The filter part of a query string (no page), as saved and carried by the bulk form."""
    return urlencode([(k, v) for k in FILTER_KEYS for v in args.getlist(k) if v != ""])


def url_decode(query: str) -> MultiDict:
    return MultiDict(parse_qsl(query, keep_blank_values=False))


def _province_user() -> bool:
    return current_user.role in workflow.PROVINCE


@bp.get("/findings/")
@personal_data
def index():  # type: ignore[no-untyped-def]
    session = get_session()
    asked = read_query(request.args)
    counts = status_counts(session, asked.where)
    total = sum(n for s, n in counts.items() if not asked.where.statuses or s in asked.where.statuses)
    pages = max(1, -(-total // PER_PAGE))
    page = min(asked.page, pages)
    ids = page_ids(session, asked, page)
    rows = session.execute(_rows(WorkbenchFilter(), asked.sort, asked.descending).where(Finding.id.in_(ids))).all() \
        if ids else []
    own = county_scope()
    counties = session.scalars(sa.select(County).where(
        *([County.code == own] if own else [])).order_by(County.code)).all()
    rules = RULE_CODES
    auditors = session.execute(sa.select(User.id, User.username, User.full_name).where(
        User.role.in_(workflow.PROVINCE), User.active.is_(True)).order_by(User.username)).all()
    saved = session.scalars(sa.select(SavedFilter).where(SavedFilter.user_id == current_user.id)
                            .order_by(SavedFilter.name)).all()
    calendar = _calendar()
    today = asked.where.today
    # what every row repeats, looked up once for the page: labels and titles in the page's
    # language, county names, the finding link (50 rows, each a handful of cells)
    show = may_link("findings.show")
    return render_template(
        "findings/workbench.html", rows=rows, total=total, counts=counts, page=page, pages=pages, asked=asked,
        counties=counties, rules=rules, auditors=auditors, saved=saved, query=_query_string(request.args),
        one_county=own is not None, may_act=_province_user(), deadline=calendar.deadline(today), today=today,
        sorts=SORTS, status_labels={s: str(label) for s, label in STATUS_LABELS.items()},
        statuses=list(FindingStatus), severities=list(Severity), subjects=SUBJECT_LABELS, max_bulk=MAX_BULK,
        max_export=MAX_EXPORT, rule_titles=RuleTitles({code: rule_title(code) for code in RULE_CODES}),
        county_of={c.code: county_name(c, c.code) for c in counties}, finding_url=_finding_url() if show else None,
        sort_url=_sort_url, default_expiry=date(today.year + 1, today.month, min(today.day, 28)))


class RuleTitles(dict):  # type: ignore[type-arg]
    """Rule code -> title in the page's language, the catalogue's looked up once a page; another
    code (a rule since withdrawn) through ``rule_title``."""

    def __missing__(self, code: str) -> str:
        return rule_title(code)


def _finding_url() -> str:
    """``/findings/`` as ``url_for`` writes a finding's link, to which a row adds its id."""
    url = url_for("findings.show", finding_id=0)
    return url[:-1]


def _calendar():  # type: ignore[no-untyped-def]
    """The working-day calendar (config/calendar.yaml), read again only when the file changes."""
    path = current_app.config["NCMS_SETTINGS"].config_dir / "calendar.yaml"
    stamp = path.stat().st_mtime_ns if path.exists() else None
    cached = current_app.extensions.get("ncms.workbench.calendar")
    if cached is None or cached[0] != stamp:
        cached = (stamp, read_calendar(current_app.config["NCMS_SETTINGS"].config_dir))
        current_app.extensions["ncms.workbench.calendar"] = cached
    return cached[1]


def _sort_url(column: str, asked: Asked) -> str:
    descending = not asked.descending if asked.sort == column else column in ("first_seen", "amount")
    return layout.url_with(sort=column, dir="desc" if descending else "asc", page=None)


# --- bulk steps ---------------------------------------------------------------------------------

@bp.post("/findings/bulk")
@roles_required(Role.ADMIN, Role.AUDITOR)
def bulk():  # type: ignore[no-untyped-def]
    session = get_session()
    form = request.form
    action = form.get("action", "")
    query = (form.get("query") or "")[:MAX_QUERY]
    back = url_for("findings.index") + (f"?{query}" if query else "")
    if action not in ("assign", "push", "dismiss"):
        flash(_("Choose what to do with the findings."), "error")
        return redirect(back)
    if form.get("scope") == "all":
        asked = read_query(url_decode(query))
        matching = session.scalar(sa.select(sa.func.count()).select_from(Finding).where(
            *asked.where.conditions(), *workflow.visible(current_user))) or 0
        if matching > MAX_BULK:
            flash(_("%(num)s findings match this filter: a bulk step takes at most %(max)s. Narrow the filter.",
                    num=f"{matching:,}", max=f"{MAX_BULK:,}"), "error")
            return redirect(back)
        ids = list(session.scalars(sa.select(Finding.id).where(*asked.where.conditions(),
                                                                *workflow.visible(current_user))))
    else:
        ids = sorted({int(i) for i in form.getlist("ids") if i.isdigit() and len(i) < 12})
        if len(ids) > MAX_BULK:
            ids = ids[:MAX_BULK]
    if not ids:
        flash(_("No finding chosen: tick some rows, or all that match the filter."), "error")
        return redirect(back)
    calendar = _calendar()
    exception = None
    try:
        if action == "assign":
            who = form.get("assignee", "")
            assignee = None
            if who.isdigit():
                assignee = session.get(User, int(who))
                if assignee is None:
                    raise workflow.ReviewError(_("No such auditor."))
            outcome = workflow.assign(session, current_user, ids, assignee)
        elif action == "push":
            outcome = workflow.push(session, current_user, ids, calendar, form.get("note", ""))
        else:
            outcome = workflow.dismiss(session, current_user, ids, form.get("reason", ""))
            if form.get("exception") == "1" and outcome.done:
                exception = _exception(session, form, outcome.done[0])
        if _changes_summary(action, outcome):
            from ncms.indicators.refresh import refresh_findings

            refresh_findings(session)
        session.commit()
    except workflow.ReviewError as exc:
        session.rollback()
        flash(_("Nothing was changed: %(error)s", error=in_language(exc)), "error")
        return redirect(back)
    return render_template("findings/workbench_done.html", action=action, outcome=outcome, back=back,
                           exception=exception, calendar_deadline=calendar.deadline(local_day()))


def _changes_summary(action: str, outcome: workflow.Outcome) -> bool:
    """Whether the start page's counts move: the summary counts undecided findings together
    (open, with the county, answered), so a push leaves them; a dismissal does not."""
    return action == "dismiss" and bool(outcome.done)


def _exception(session: Any, form: MultiDict, finding_id: int) -> RuleException:
    """The "accepted practice" exception made with a dismissal, for the first finding's rule."""
    finding = session.get(Finding, finding_id)
    try:
        expires = date.fromisoformat((form.get("exc_expires") or "").strip())
    except ValueError:
        raise workflow.ReviewError(_("The exception needs an expiry day (YYYY-MM-DD).")) from None
    county = finding.county_code if form.get("exc_where") != "province" else None
    return rule_exceptions.make(session, current_user, form.get("exc_rule") or finding.rule_code,
                                form.get("exc_kind", ""), form.get("exc_code", ""), expires,
                                form.get("reason", ""), county_code=county, finding=finding)


# --- saved filters ------------------------------------------------------------------------------

@bp.post("/findings/saved")
@personal_data
def save_filter():  # type: ignore[no-untyped-def]
    session = get_session()
    name = (request.form.get("name") or "").strip()[:100]
    query = _query_string(url_decode((request.form.get("query") or "").lstrip("?")[:MAX_QUERY]))
    back = url_for("findings.index") + (f"?{query}" if query else "")
    if not name:
        flash(_("Give the filter a name."), "error")
        return redirect(back)
    row = session.scalar(sa.select(SavedFilter).where(SavedFilter.user_id == current_user.id,
                                                      SavedFilter.name == name))
    if row is None:
        session.add(SavedFilter(user_id=current_user.id, name=name, query=query))
    else:
        row.query = query
    session.commit()
    flash(_("Filter saved as %(name)s.", name=name), "success")
    return redirect(back)


@bp.post("/findings/saved/delete")
@personal_data
def delete_filter():  # type: ignore[no-untyped-def]
    session = get_session()
    ident = request.form.get("id", "")
    row = session.scalar(sa.select(SavedFilter).where(SavedFilter.id == int(ident), SavedFilter.user_id
                                                      == current_user.id)) if ident.isdigit() else None
    if row is None:
        abort(404)  # none, or someone else's
    session.delete(row)
    session.commit()
    flash(_("Filter %(name)s deleted.", name=row.name), "success")
    return redirect(url_for("findings.index"))


# --- exports ------------------------------------------------------------------------------------

EXPORT_HEADER = ("id", "rule", "rule_title", "county", "county_name", "institution", "institution_name",
                 "severity", "status", "amount_at_stake", "first_seen", "due_on", "assignee", "subject")


@bp.get("/findings/export.csv")
@personal_data
def export_csv():  # type: ignore[no-untyped-def]
    return _export("csv")


@bp.get("/findings/export.xlsx")
@personal_data
def export_xlsx():  # type: ignore[no-untyped-def]
    return _export("xlsx")


def _export(kind: str):  # type: ignore[no-untyped-def]
    """Every row the filter matches, in the page's sort, at most ``MAX_EXPORT``."""
    session = get_session()
    asked = read_query(request.args)
    matching = session.scalar(sa.select(sa.func.count()).select_from(Finding).where(
        *asked.where.conditions(), *workflow.visible(current_user))) or 0
    if matching > MAX_EXPORT:
        flash(_("%(num)s findings match this filter: an export takes at most %(max)s. Narrow the filter.",
                num=f"{matching:,}", max=f"{MAX_EXPORT:,}"), "error")
        return redirect(url_for("findings.index", **request.args.to_dict(flat=False)))
    query = _rows(asked.where, asked.sort, asked.descending)

    def rows():  # type: ignore[no-untyped-def]
        try:
            for r in session.execute(query.execution_options(yield_per=1000)):
                yield (r.id, r.rule_code, rule_title(r.rule_code), r.county_code, r.county_name, r.institution_code,
                       r.institution_name, r.severity.value, r.status.value, r.amount_at_stake,
                       r.first_seen_at, r.due_on, r.assignee, r.subject_key)
        finally:  # the read's transaction ends with the file, not when the client lets the response go
            session.close()

    name = f"findings-{utcnow():%Y%m%d-%H%M}.{kind}"
    if kind == "csv":
        return csv_response(name, EXPORT_HEADER, rows())
    return xlsx_response(name, EXPORT_HEADER, rows(), sheet="findings")


# --- rule exceptions ----------------------------------------------------------------------------

@bp.get("/findings/exceptions")
@roles_required(Role.ADMIN, Role.AUDITOR)
def exceptions():  # type: ignore[no-untyped-def]
    session = get_session()
    rows = rule_exceptions.listing(session)
    names = dict(session.execute(sa.select(User.id, User.username)).all())
    today = local_day()
    return render_template("findings/workbench_exceptions.html", rows=rows, names=names, today=today,
                           subjects=SUBJECT_LABELS, rule_title=rule_title)


@bp.post("/findings/exceptions/revoke")
@roles_required(Role.ADMIN, Role.AUDITOR)
def revoke_exception():  # type: ignore[no-untyped-def]
    session = get_session()
    ident = request.form.get("id", "")
    if not ident.isdigit():
        abort(404)
    try:
        rule_exceptions.revoke(session, current_user, int(ident), request.form.get("reason", ""))
        session.commit()
        flash(_("Exception %(id)s revoked.", id=ident), "success")
    except workflow.ReviewError as exc:
        session.rollback()
        flash(in_language(exc), "error")
    return redirect(url_for("findings.exceptions"))
