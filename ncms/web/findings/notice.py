"""The audit notice (稽核通知书) of a county as a PDF download (``findings.notice``), built by
``ncms.review.notice``: for auditors and administrators any county's, for a county officer their
own county's only (another county is *not found*, as everywhere); never the ministry's (it reads
statistics, a notice names claims and members).

``?lang=zh|en`` (by default the page's language), ``?on=YYYY-MM-DD`` the notice's day (today in
Beijing by default), ``?pushed_on=`` or ``?since=`` to list only the findings first pushed that
day or since then. A county with nothing awaiting its answer has no notice: *not found*, saying so."""
from __future__ import annotations

import re
from datetime import date, datetime
from urllib.parse import quote

from flask import Response, abort, current_app, request

from ncms.models import Role
from ncms.review.notice import BEIJING, NoticeError, build_notice

from ..database import get_session
from ..i18n import current_language, in_language
from ..scope import county_or_404, roles_required
from . import bp


@bp.get("/findings/notice/<code>.pdf")
@roles_required(Role.ADMIN, Role.AUDITOR, Role.COUNTY)
def notice(code: str):  # type: ignore[no-untyped-def]
    county = county_or_404(code)
    language = request.args.get("lang") or ("en" if current_language() == "en" else "zh")
    if language not in ("zh", "en"):
        abort(400, description=f"lang={language!r}: zh or en")
    days = {key: _day(key) for key in ("on", "pushed_on", "since")}
    days["on"] = days["on"] or datetime.now(BEIJING).date()
    settings = current_app.config["NCMS_SETTINGS"]
    try:
        pdf = build_notice(get_session(), county.code, language=language, config_dir=settings.config_dir, **days)
    except NoticeError as error:
        abort(404, description=in_language(error))
    on = days["on"]
    stem = "稽核通知书" if language == "zh" else "audit-notice"
    name = f"{stem}-{county.code}-{on:%Y%m%d}.pdf"
    response = Response(pdf, mimetype="application/pdf")
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    response.headers["Content-Disposition"] = f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"
    response.headers["Cache-Control"] = "no-store"
    return response


def _day(key: str) -> date | None:
    value = request.args.get(key, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        abort(400, description=f"{key}={value!r} is not a day (YYYY-MM-DD)")
