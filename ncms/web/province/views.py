"""The province at a glance (the auditors' start page): per county its members, claims and
compensation in the period, its fund against the elapsed share of the year, its findings and
money at stake, and how current its data is; charts of compensation against financing, money by
rule and the institutions with the most money at stake. Every figure is ``ncms.indicators``'s
(summary tables, never the claims). A county officer is sent to their county's page."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ncms.indicators import start_page
from ncms.indicators.supervision import Review, review
from ncms.models import County
from ncms.review.calendar import local_day

from ..claim.links import rule_title
from ..database import get_session
from ..scope import county_scope, may_link, scoped, signed_in
from .filters import cadence, chosen_counties, chosen_period, data_years, period_choices, period_label

bp = Blueprint("province", __name__, template_folder="templates")
LABEL_WIDTH = 140  # px of a bar chart's category labels: about 11 Chinese characters, 20 Latin


@bp.get("/")
@signed_in
def index():  # type: ignore[no-untyped-def]
    own = county_scope()
    if own is not None:  # a county officer's start is their county's page (also after signing in from /)
        if request.args.get("county", "").strip() not in ("", own):
            abort(404)
        return redirect(url_for("county.show", code=own, period=request.args.get("period") or None))
    session = get_session()
    visible = session.execute(scoped(sa.select(County.code, County.name, County.name_en)
                                     .order_by(County.code), County.code)).all()
    known = [code for code, *_ in visible]
    counties = chosen_counties(known)
    years = data_years(session, counties if counties is not None else None)
    period = chosen_period(years)
    today = date.today()
    page = start_page(session, period, counties, cadence=cadence(), today=today) if known else None
    reviews = {r.county_code: r for r in review(session, counties, today=local_day())} if page else {}
    shown = [row.county_codes[0] for row in page.table.counties] if page else []
    context: dict[str, Any] = dict(
        page=page, period=period, period_name=period_label(period), periods=period_choices(years, period),
        counties=visible, county=counties[0] if counties and len(known) > 1 else "",
        options=chart_options(page) if page else {}, rule_title=rule_title, may_link=may_link,
        reviews={code: reviews.get(code) or Review(code) for code in shown},
        review_total=sum((reviews.get(code) or Review(code) for code in shown), Review()), today=today)
    template = "province/_glance.html" if request.headers.get("HX-Request") else "province/index.html"
    return render_template(template, **context)


def chart_options(page: Any) -> dict[str, dict[str, Any]]:
    """The ECharts options of the page's three charts, built here (no inline script)."""
    months = [_("%(month)d", month=m) for m in range(1, 13)]
    *per_county, total = page.series
    compensation = [{"type": "bar", "stack": "paid", "name": s.name, "data": [_float(v) for v in s.compensation]}
                    for s in per_county]
    financing = {"type": "line", "name": _("Financing raised"), "data": [_float(v) for v in total.financing],
                 "symbol": "circle"}
    monthly = {"legend": {"type": "scroll", "top": 0}, "grid": {"top": 40, "left": 70, "right": 16, "bottom": 30},
               "xAxis": {"type": "category", "data": months, "name": _("month")},
               "yAxis": {"type": "value"}, "series": [*compensation, financing], "ncms": {"format": "money"}}
    by_rule = ranked_bars([rule_title(r.rule_code) for r in page.rules], [r.money_at_stake for r in page.rules])
    by_institution = ranked_bars([i.name for i in page.institutions], [i.money_at_stake for i in page.institutions])
    return {"monthly": monthly, "rules": by_rule, "institutions": by_institution}


def _float(value: Decimal | None) -> float | None:
    """A chart's value (JSON has no decimals; the tables beside the charts keep the exact yuan)."""
    return None if value is None else float(value)


def ranked_bars(names: list[str], amounts: list[Decimal]) -> dict[str, Any]:
    """Money at stake as horizontal bars, the first of ``names`` at the top. A name longer than
    the axis label's width is cut there with an ellipsis (whole in the tooltip), and the grid
    holds its labels (``containLabel``), so none runs out of a phone's narrow chart."""
    return {"grid": {"left": 8, "right": 24, "top": 10, "bottom": 30, "containLabel": True},
            "tooltip": {"trigger": "axis", "axisPointer": {"type": "shadow"}},
            "xAxis": {"type": "value"},
            "yAxis": {"type": "category", "data": names[::-1],  # ECharts draws categories from the bottom
                      "axisLabel": {"interval": 0, "width": LABEL_WIDTH, "overflow": "truncate"}},
            "series": [{"type": "bar", "name": _("Money at stake"), "data": [_float(v) for v in amounts[::-1]]}],
            "ncms": {"format": "money"}}
