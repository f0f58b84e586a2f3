"""Reading the indicators from the summary tables: one query per table for all the counties
asked for, never a scan of the claims."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import reduce
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ncms.models import County, CountyMonth, CountyYear, Finding, FindingMonth, FundFinancing, Money

from .figures import ZERO, ClaimFigures, FundWarning, Indicators
from .period import Period


@dataclass
class IndicatorTable:
    """The indicators of each county asked for, and of them all (``total``: the province when
    every county is asked for)."""

    period: Period
    counties: list[Indicators]
    total: Indicators


def indicators(session: Session, period: Period, counties: Sequence[str] | None = None) -> IndicatorTable:
    """Every indicator of ``period`` for ``counties`` (None: every county), and their total."""
    rows = county_indicators(session, period, counties)
    total = reduce(lambda a, b: a + b, rows, Indicators(period))
    return IndicatorTable(period, rows, total)


def county_indicators(session: Session, period: Period, counties: Sequence[str] | None = None) -> list[Indicators]:
    """One ``Indicators`` per county, in code order."""
    chosen = (sa.select(County.code, County.name, County.agricultural_population)
              .where(*among_codes(County.code, counties)).order_by(County.code))
    out = {code: Indicators(period, (code,), name, agricultural_population=population)
           for code, name, population in session.execute(chosen)}
    if not out:
        return []
    codes = list(out)
    _claims(session, period, codes, out)
    _fund(session, period, codes, out)
    _financing(session, period, codes, out)
    _enrolment(session, period, codes, out)
    _findings(session, period, codes, out)
    for warning in fund_warnings(session, period.year, codes):
        out[warning.county_code].warnings.append(warning)
    return list(out.values())


def fund_warnings(session: Session, year: int, counties: Sequence[str] | None = None) -> list[FundWarning]:
    """The fund early warnings of ``year`` that hold: the findings the monitor's fund rules
    raised (ncms.monitor.catalogue, the basis "fund years"), read, never judged again here."""
    from ncms.monitor.stake import FUND_RULES, holding

    found = session.execute(
        sa.select(Finding.county_code, Finding.rule_code, Finding.amount_at_stake, Finding.evidence, Finding.status)
        .where(Finding.rule_code.in_(FUND_RULES), Finding.period_start == date(year, 1, 1), *holding(),
               *among_codes(Finding.county_code, counties))
        .order_by(Finding.county_code, Finding.rule_code))
    return [FundWarning(county, rule, amount, _money((evidence or {}).get("projected")), status.value)
            for county, rule, amount, evidence, status in found]


def _claims(session: Session, period: Period, codes: list[str], out: dict[str, Indicators]) -> None:
    m = CountyMonth
    sums = [sa.func.sum(getattr(m, name)) for name in ("claims", "compensated_claims", "out_of_county", "referred",
                                                        "bed_days")]
    money = [sa.type_coerce(sa.func.sum(getattr(m, name)), Money())
             for name in ("total_amount", "eligible_amount", "compensated_amount")]
    for county, kind, level, *values in session.execute(
            sa.select(m.county_code, m.kind, m.level, *sums, *money)
            .where(m.county_code.in_(codes), *in_months(m, period)).group_by(m.county_code, m.kind, m.level)):
        out[county].by_level[(kind, level)] = ClaimFigures(*(int(v) for v in values[:5]), *values[5:])


def _fund(session: Session, period: Period, codes: list[str], out: dict[str, Indicators]) -> None:
    m, year = CountyMonth, period.year
    this_year = sa.and_(m.year == year, m.month <= period.last_month)
    for county, paid, reached, before in session.execute(
            sa.select(m.county_code,
                      sa.type_coerce(sa.func.sum(sa.case((this_year, m.compensated_amount), else_=0)), Money()),
                      sa.func.max(sa.case((sa.and_(this_year, m.claims > 0), m.month))),
                      sa.type_coerce(sa.func.sum(sa.case((m.year < year, m.compensated_amount), else_=0)), Money()))
            .where(m.county_code.in_(codes), m.year <= year).group_by(m.county_code)):
        out[county].paid_to_date, out[county].paid_before_year = paid or ZERO, before or ZERO
        out[county].months_reached = int(reached or 0)


def _financing(session: Session, period: Period, codes: list[str], out: dict[str, Indicators]) -> None:
    f = FundFinancing
    for county, source, amount in session.execute(
            sa.select(f.county_code, f.source, sa.type_coerce(sa.func.sum(f.amount), Money()))
            .where(f.county_code.in_(codes), *in_months(f, period)).group_by(f.county_code, f.source)):
        out[county].financing[source] = amount
    for county, this_year, to_date in session.execute(
            sa.select(f.county_code,
                      sa.type_coerce(sa.func.sum(sa.case((f.year == period.year, f.amount), else_=0)), Money()),
                      sa.type_coerce(sa.func.sum(f.amount), Money()))
            .where(f.county_code.in_(codes), f.year <= period.year).group_by(f.county_code)):
        out[county].year_financing, out[county].financing_to_date = this_year or ZERO, to_date or ZERO


def _enrolment(session: Session, period: Period, codes: list[str], out: dict[str, Indicators]) -> None:
    for row in session.scalars(sa.select(CountyYear).where(CountyYear.county_code.in_(codes),
                                                           CountyYear.year == period.year)):
        figures = out[row.county_code]
        figures.members, figures.households, figures.contributions = row.members, row.households, row.contributions


def _findings(session: Session, period: Period, codes: list[str], out: dict[str, Indicators]) -> None:
    f = FindingMonth
    counts = [sa.func.sum(getattr(f, name)) for name in ("findings", "undecided", "confirmed", "dismissed")]
    money = [sa.type_coerce(sa.func.sum(getattr(f, name)), Money()) for name in ("money_at_stake", "confirmed_money")]
    for county, findings, undecided, confirmed, dismissed, stake, confirmed_money in session.execute(
            sa.select(f.county_code, *counts, *money).where(f.county_code.in_(codes), *in_months(f, period))
            .group_by(f.county_code)):
        figures = out[county]
        figures.findings, figures.undecided, figures.confirmed, figures.dismissed = (
            int(findings), int(undecided), int(confirmed), int(dismissed))
        figures.money_at_stake, figures.confirmed_money = stake or ZERO, confirmed_money or ZERO


def in_months(table: Any, period: Period) -> list[sa.ColumnElement[bool]]:
    """A summary table's rows (``year``, ``month``) of the period."""
    return [table.year == period.year, table.month.between(period.first_month, period.last_month)]


def among_codes(column: Any, codes: Sequence[str] | None) -> list[sa.ColumnElement[bool]]:
    """Rows of the counties (None: no condition, every county)."""
    return [] if codes is None else [column.in_(list(codes))]


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(ZERO)
