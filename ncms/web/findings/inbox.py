"""``findings.inbox``: a county officer's review work (``/inbox/``; docs/web.md, "A finding and the
county's inbox").

The findings pushed to the officer's county: first those awaiting its answer (``sent_to_county``)
by deadline, the overdue counted at the top and marked; then those it answered and the province
is reviewing; then those decided in the last ``RECENT_DAYS`` days. Each row links to the
finding's page, where the officer answers. Read through the scope (``ix_finding_status_due_on``
and the county's ``ix_finding_county_status``): nothing of another county, ever.

An auditor or administrator opening ``/inbox/`` sees the same three lists for the whole province
(every county's, with the county named; ``?county=`` one county's): the pushed findings and their deadlines are what the
province follows too; the workbench (``/findings/``) stays the place to filter and act in bulk.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Flask, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from ncms.models import County, Finding, FindingStatus, Institution, Role
from ncms.models.base import utcnow
from ncms.review.calendar import local_day

from ..database import get_session
from ..layout import add_nav
from ..scope import county_or_404, roles_required, scoped
from . import bp

RECENT_DAYS = 90  # decided findings stay in the inbox this long
LIMIT = 500  # rows a list shows at most (a county has tens pushed at a time)


def init_app(app: Flask) -> None:
    add_nav(app, "findings.inbox", _l("Inbox"), roles=(Role.COUNTY,))  # the province has the workbench


@bp.get("/inbox/")
@roles_required(Role.COUNTY, Role.AUDITOR, Role.ADMIN)
def inbox():  # type: ignore[no-untyped-def]
    session = get_session()
    today = local_day()
    base = scoped(select(Finding), Finding.county_code)
    chosen = request.args.get("county")
    if chosen is not None:  # one county's (an auditor's view of it); another's than the officer's: 404
        base = base.where(Finding.county_code == county_or_404(chosen).code)
    waiting = session.scalars(base.where(Finding.status == FindingStatus.SENT_TO_COUNTY)
                              .order_by(Finding.due_on.asc(), Finding.id).limit(LIMIT)).all()
    answered = session.scalars(base.where(Finding.status == FindingStatus.COUNTY_RESPONDED)
                               .order_by(Finding.answered_at.desc(), Finding.id).limit(LIMIT)).all()
    since = utcnow() - timedelta(days=RECENT_DAYS)
    decided = session.scalars(base.where(Finding.status.in_((FindingStatus.CONFIRMED, FindingStatus.DISMISSED)),
                                         Finding.pushed_at.is_not(None), Finding.decided_at >= since)
                              .order_by(Finding.decided_at.desc(), Finding.id).limit(LIMIT)).all()
    overdue = [f for f in waiting if f.due_on is not None and f.due_on < today]
    shown = [*waiting, *answered, *decided]
    institution_ids = {f.institution_id for f in shown if f.institution_id}
    institutions = {i.id: i for i in session.scalars(select(Institution).where(Institution.id.in_(institution_ids)))} \
        if institution_ids else {}
    code = current_user.county_code if current_user.role is Role.COUNTY else chosen
    county = session.get(County, code) if code else None
    counties = {c.code: c for c in session.scalars(select(County))} if county is None else {county.code: county}
    return render_template("findings/inbox.html", waiting=waiting, answered=answered, decided=decided,
                           overdue=len(overdue), today=today, institutions=institutions, county=county,
                           counties=counties, recent_days=RECENT_DAYS, province=current_user.role is not Role.COUNTY)

