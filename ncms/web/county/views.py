"""One county's page: its fund month by month against the elapsed share of the year, its
institutions ranked by money at stake and by anomaly score, its findings (a page at a time,
each linked to what it is about), its batches. Figures from ``ncms.indicators`` and the summary
tables; the findings, members, claims and batches by indexed lookups of the county."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from ncms.indicators import fund_warnings, indicators, top_institutions
from ncms.indicators.supervision import Review, overdue_findings, review
from ncms.models import BatchStatus, Role
from ncms.review.calendar import local_day

from ..database import get_session
from ..claim.links import rule_title
from ..province.filters import chosen_period, data_years, period_choices, period_label
from ..scope import county_or_404, in_scope, may_link, signed_in
from .queries import PAGE_SIZE, anomaly_ranking, batches_of, findings_page, fund_months

bp = Blueprint("county", __name__, template_folder="templates")


@bp.get("/county/<code>")
@signed_in
def show(code: str):  # type: ignore[no-untyped-def]
    session = get_session()
    county = county_or_404(code)
    years = data_years(session, [county.code])
    period = chosen_period(years)
    try:
        page = int(request.args.get("page", "1"))
    except ValueError:
        abort(404)
    if page < 1:
        abort(404)
    figures = indicators(session, period, [county.code]).counties[0]
    months = fund_months(session, period.year, county.code)
    findings, found = findings_page(session, period, county.code, page)
    if page > 1 and not findings:
        abort(404)
    today = local_day()  # the review loop's day: deadlines are days of the province's clock
    loop = next(iter(review(session, [county.code], today=today)), None) or Review(county.code)
    overdue, overdue_count = overdue_findings(session, county.code, today=today)
    context: dict[str, Any] = dict(
        loop=loop, overdue=overdue, overdue_count=overdue_count, today=today,
        county=county, period=period, period_name=period_label(period), periods=period_choices(years, period),
        counties=[], figures=figures, months=months, warnings=fund_warnings(session, period.year, [county.code]),
        by_stake=top_institutions(session, period, [county.code], limit=10),
        by_score=anomaly_ranking(session, period, county.code, limit=10),
        findings=findings, found=found, page=page, pages=max(1, -(-found // PAGE_SIZE)),
        batches=batches_of(session, period, county.code), rule_title=rule_title, may_link=may_link, in_scope=in_scope,
        personal=current_user.role != Role.MINISTRY, options=chart_options(months),
        batch_status=batch_status)
    template = "county/_figures.html" if request.headers.get("HX-Request") else "county/show.html"
    return render_template(template, **context)


def batch_status(value: BatchStatus) -> str:
    labels = {BatchStatus.RECEIVED: _("received"), BatchStatus.LOADING: _("loading"), BatchStatus.LOADED: _("loaded"),
              BatchStatus.PARTIAL: _("loaded, rows refused"), BatchStatus.REJECTED: _("refused"),
              BatchStatus.FAILED: _("failed")}
    return labels.get(value, value.value)


def chart_options(months: list[Any]) -> dict[str, dict[str, Any]]:
    labels = [_("%(month)d", month=m.month) for m in months]
    grid = {"top": 40, "left": 70, "right": 16, "bottom": 30}
    money = {"legend": {"top": 0}, "grid": grid, "xAxis": {"type": "category", "data": labels, "name": _("month")},
             "yAxis": {"type": "value"}, "ncms": {"format": "money"},
             "series": [{"type": "bar", "name": _("Compensation"), "data": [float(m.compensation) for m in months]},
                        {"type": "bar", "name": _("Financing raised"), "data": [float(m.financing) for m in months]}]}
    usage = {"legend": {"top": 0}, "grid": grid, "xAxis": {"type": "category", "data": labels, "name": _("month")},
             "yAxis": {"type": "value", "axisLabel": {"formatter": "{value}%"}}, "ncms": {"format": "number"},
             "series": [{"type": "line", "name": _("Fund used, year to date"),
                         "data": [_percent(m.usage_rate) for m in months]},
                        {"type": "line", "name": _("Year elapsed"), "lineStyle": {"type": "dashed"},
                         "data": [_percent(m.elapsed_share) for m in months]}]}
    return {"money": money, "usage": usage}


def _percent(value: Any) -> float | None:
    """A rate as a percentage for the chart (its axis labels cannot multiply)."""
    return None if value is None else round(float(value) * 100, 2)
