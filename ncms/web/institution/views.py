"""``institution.show``: one institution against its peers (docs/web.md#the-institution-page).

Read by key only: the institution by code (scoped by its area: another county's institution is
not found), its windows of care from ``institution_month`` (by institution), its peers' windows
of the same level and the same windows (a few thousand rows at most), its findings by
institution (``ix_finding_institution_id``) and claims' ids, its costliest claims of the period
by institution and date of care (``ix_claim_institution_admission``). The ministry sees the
figures, never a claim or a person.
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable
from typing import Any

from flask import Blueprint, abort, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select, tuple_

from ncms.indicators import Period
from ncms.models import Claim, County, Finding, Institution, InstitutionMonth, Role
from ncms.monitor.anomaly import MODEL, AnomalySettings
from ncms.monitor.features import FEATURES, LOW_IS_UNUSUAL
from ncms.monitor.windows import window_name

from ..database import get_session
from ..scope import scoped, signed_in

bp = Blueprint("institution", __name__, template_folder="templates")

COSTLIEST = 10
FEATURE_LABELS = {
    "cost_per_visit": _l("Cost per outpatient visit"), "cost_per_stay": _l("Cost per stay"),
    "length_of_stay": _l("Days per stay"), "drug_share": _l("Drugs' share"),
    "exam_share": _l("Exams' and tests' share"), "readmission_rate": _l("Readmitted within 15 days"),
    "under_cap_share": _l("Visits paid just under the cap"), "compensation_ratio": _l("Compensation per yuan of cost"),
    "growth": _l("Growth of claims"), "out_of_county_share": _l("Claims of other counties' members"),
    "diagnosis_concentration": _l("Diagnosis concentration"), "short_cheap_share": _l("Short, cheap stays"),
    "cost_per_bed_day": _l("Cost per bed day"), "long_cheap_share": _l("Long, cheap stays"),
    "admissions_per_member": _l("Stays per 1,000 members"), "admissions_per_visit": _l("Stays per visit"),
}
SHARES = {"drug_share", "exam_share", "readmission_rate", "under_cap_share", "compensation_ratio", "growth",
          "out_of_county_share", "short_cheap_share", "long_cheap_share"}
MONEY = {"cost_per_visit", "cost_per_stay", "cost_per_bed_day"}


def quartiles(values: list[float]) -> tuple[float, float, float] | None:
    """First quartile, median and third quartile (inclusive method); None for no value."""
    if not values:
        return None
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def feature_series(own: list[InstitutionMonth], peers: list[InstitutionMonth]) -> dict[str, dict[str, Any]]:
    """Per feature: the windows' names, the institution's values, and its peers' quartiles over
    the same windows (the institutions of its level with ``min_cases`` claims in the window)."""
    least = AnomalySettings().min_cases
    by_window: dict[tuple[int, int, str], list[InstitutionMonth]] = {}
    for row in peers:
        if row.cases >= least:
            by_window.setdefault((row.year, row.month, row.time_window), []).append(row)
    out = {}
    for name in FEATURES:
        values = [getattr(row, name) for row in own]
        if all(v is None for v in values):
            continue
        spread = [quartiles(sorted(v for p in by_window.get((r.year, r.month, r.time_window), [])
                                   if (v := getattr(p, name)) is not None)) for r in own]
        out[name] = {"windows": [window_name(_row(r)) for r in own], "values": values, "quartiles": spread}
    return out


def _row(row: InstitutionMonth) -> dict[str, Any]:
    return {"year": row.year, "month": row.month, "time_window": row.time_window, "months": row.months}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4 if abs(value) < 10 else 2)


def chart_option(name: str, series: dict[str, Any]) -> dict[str, Any]:
    """An ECharts option: the institution's line, its peers' median and the band between their
    quartiles (a transparent first quartile with the interquartile range stacked on it)."""
    q = series["quartiles"]
    low = [_round(x[0]) if x else None for x in q]
    band = [_round(x[2] - x[0]) if x else None for x in q]
    fmt = "percent" if name in SHARES else "money" if name in MONEY else "number"
    return {
        "ncms": {"format": fmt},
        "title": {"text": str(FEATURE_LABELS.get(name, name)), "left": 0, "textStyle": {"fontSize": 13}},
        "tooltip": {"trigger": "axis"},
        "legend": {"bottom": 0, "data": [str(_l("This institution")), str(_l("Peers' median"))]},
        "grid": {"left": 48, "right": 12, "top": 32, "bottom": 40},
        "xAxis": {"type": "category", "data": series["windows"], "boundaryGap": False},
        "yAxis": {"type": "value", "scale": True},
        "series": [
            {"name": "q1", "type": "line", "data": low, "stack": "band", "symbol": "none",
             "lineStyle": {"opacity": 0}, "silent": True, "tooltip": {"show": False}},
            {"name": str(_l("Peers' middle half")), "type": "line", "data": band, "stack": "band", "symbol": "none",
             "lineStyle": {"opacity": 0}, "areaStyle": {"color": "#9ab8d8", "opacity": 0.35}, "silent": True,
             "tooltip": {"show": False}},
            {"name": str(_l("Peers' median")), "type": "line", "data": [_round(x[1]) if x else None for x in q],
             "lineStyle": {"type": "dashed", "color": "#5470c6"}, "itemStyle": {"color": "#5470c6"}},
            {"name": str(_l("This institution")), "type": "line", "data": [_round(v) for v in series["values"]],
             "lineStyle": {"width": 2.5, "color": "#c23531"}, "itemStyle": {"color": "#c23531"}},
        ],
    }


def peer_charts(institution: Institution, windows: list[InstitutionMonth] | None = None,
                features: Iterable[str] | None = None) -> list[tuple[str, Any, dict[str, Any]]]:
    """(feature, label, ECharts option) for each feature of the institution's windows (read by
    institution when not given) against its peers' of the same level and windows; only
    ``features`` when named (a finding's page draws the features that explain it)."""
    session = get_session()
    if windows is None:
        windows = list(session.scalars(select(InstitutionMonth).where(InstitutionMonth.institution_id == institution.id)
                                       .order_by(InstitutionMonth.year, InstitutionMonth.month)))
    peers = session.scalars(select(InstitutionMonth).where(
        InstitutionMonth.level == institution.level, InstitutionMonth.institution_id != institution.id,
        tuple_(InstitutionMonth.year, InstitutionMonth.month).in_({(w.year, w.month) for w in windows}))).all() \
        if windows else []
    wanted = None if features is None else list(features)
    series = feature_series(windows, list(peers))
    names = list(series) if wanted is None else [name for name in wanted if name in series]
    return [(name, FEATURE_LABELS.get(name, name), chart_option(name, series[name])) for name in names]


def chosen_period(own: list[InstitutionMonth]) -> Period | None:
    """The period of the query string (``?period=2011``), else the latest year with windows."""
    text = request.args.get("period")
    if text:
        try:
            return Period.parse(text)
        except ValueError:
            abort(404)
    return Period.parse(str(own[-1].year)) if own else None


@bp.get("/institution/<code>")
@signed_in
def show(code: str):  # type: ignore[no-untyped-def]
    session = get_session()
    institution = session.scalar(scoped(select(Institution).where(Institution.code == code), Institution.area_code))
    if institution is None:
        abort(404)
    county = session.get(County, institution.area_code)
    windows = session.scalars(select(InstitutionMonth).where(InstitutionMonth.institution_id == institution.id)
                              .order_by(InstitutionMonth.year, InstitutionMonth.month)).all()
    period = chosen_period(list(windows))
    years = sorted({w.year for w in windows}, reverse=True)
    shown = list(windows)  # every window over time; the period picks the findings and the claims
    charts = peer_charts(institution, shown)
    personal = current_user.role != Role.MINISTRY
    findings: list[Finding] = []
    if personal:
        stmt = select(Finding).where(Finding.institution_id == institution.id)
        if period is not None:
            stmt = stmt.where(Finding.period_start <= period.end, Finding.period_end >= period.start)
        findings = list(session.scalars(scoped(stmt, Finding.county_code).order_by(Finding.amount_at_stake.desc())))
    explained = [f for f in session.scalars(scoped(select(Finding).where(
        Finding.institution_id == institution.id, Finding.rule_code == MODEL.code), Finding.county_code)
        .order_by(Finding.period_start)) if not period or (
        f.period_start and f.period_start <= period.end and f.period_end >= period.start)]
    costliest = []
    if personal and period is not None:
        costliest = session.scalars(scoped(select(Claim), Claim.county_code).where(
            Claim.institution_id == institution.id, Claim.admission_date.between(period.start, period.end))
            .order_by(Claim.total_amount.desc(), Claim.id).limit(COSTLIEST)).all()
    claim_ids = {f.claim_id for f in findings if f.claim_id}
    sources = dict(session.execute(select(Claim.id, Claim.source_id).where(Claim.id.in_(claim_ids))).all()) \
        if claim_ids else {}
    return render_template("institution/show.html", institution=institution, county=county, period=period,
                           years=years, windows=shown, feature_charts=charts, findings=findings, explained=explained,
                           costliest=costliest, personal=personal, sources=sources, labels=FEATURE_LABELS,
                           low_is_unusual=LOW_IS_UNUSUAL, shares=SHARES, money=MONEY)
