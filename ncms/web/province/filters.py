"""The period and county filters of the start page and the county page: what the query string
asks for, read against what the database holds and what the user may see."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import abort, current_app, request
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from ncms.indicators import Period, PeriodError
from ncms.indicators.period import MONTH, QUARTER, YEAR
from ncms.models import CountyMonth, FundFinancing

from ..scope import county_scope


@dataclass(frozen=True)
class PeriodChoice:
    value: str
    label: str


def data_years(session: Session, counties: list[str] | None) -> list[int]:
    """The years with claims settled or financing raised (the summary table and financing rows,
    never the claims), newest first."""
    years: set[int] = set()
    for model in (CountyMonth, FundFinancing):
        stmt = sa.select(model.year).distinct()
        if counties is not None:
            stmt = stmt.where(model.county_code.in_(counties))
        years.update(session.scalars(stmt))
    return sorted(years, reverse=True)


def chosen_period(years: list[int]) -> Period:
    """``?period=`` (2011, 2011-Q3, 2011-07); by default the newest year with data. A period
    that is no period is a 404, as any other URL naming nothing."""
    text = request.args.get("period", "").strip()
    if not text:
        from datetime import date

        return Period(YEAR, years[0] if years else date.today().year)
    try:
        return Period.parse(text)
    except PeriodError:
        abort(404)


def period_label(period: Period) -> str:
    if period.kind == YEAR:
        return _("%(year)d", year=period.year)
    if period.kind == QUARTER:
        return _("%(year)d Q%(quarter)d", year=period.year, quarter=period.number)
    from ..formatting import month

    return month(period.start)


def period_choices(years: list[int], chosen: Period) -> list[tuple[str, list[PeriodChoice]]]:
    """Options of the period select, grouped by year: the year, its quarters, its months."""
    shown = sorted(set(years) | {chosen.year}, reverse=True)
    groups = []
    for year in shown:
        periods = [Period(YEAR, year), *(Period(QUARTER, year, q) for q in range(1, 5)),
                   *(Period(MONTH, year, m) for m in range(1, 13))]
        groups.append((str(year), [PeriodChoice(p.label, period_label(p)) for p in periods]))
    return groups


def chosen_counties(known: list[str]) -> list[str] | None:
    """The counties a page covers: a county officer's own; else ``?county=`` (one of ``known``,
    404 otherwise) or None for the province."""
    own = county_scope()
    asked = request.args.get("county", "").strip()
    if own is not None:
        if asked and asked != own:
            abort(404)
        return [own]
    if not asked:
        return None
    if asked not in known:
        abort(404)
    return [asked]


def cadence() -> dict:
    """Each county's expected cadence (province.yaml), read once per process."""
    cached = current_app.extensions.get("ncms.cadence")
    if cached is None:
        from ncms.reference import read_province

        settings = current_app.config["NCMS_SETTINGS"]
        try:
            cached = read_province(settings.config_dir).cadence
        except (OSError, ValueError):
            cached = {}
        current_app.extensions["ncms.cadence"] = cached
    return cached
