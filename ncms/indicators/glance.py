"""The figures of the auditors' start page (the province at a glance) beside the indicators:
each county's data timeliness, its monthly compensation against its financing, and the money
at stake by rule and by institution — all from the summary tables and the batch records."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ncms.ingest.status import Cadence, Lateness, judge_all, timeliness
from ncms.models import County, CountyMonth, FindingMonth, FundFinancing, Institution, InstitutionLevel, Money

from .compute import IndicatorTable, among_codes, in_months, indicators
from .figures import ZERO
from .period import Period


@dataclass
class DataStatus:
    """How current a county's data is (ncms.ingest.status, as ``ncms ingest status`` says it)."""

    county_code: str
    lateness: Lateness
    last_received_at: datetime | None
    missing_sequences: list[int]
    refused_sequences: list[int]

    @property
    def late(self) -> bool:
        return self.lateness.late or bool(self.missing_sequences)

    def describe(self) -> str:
        missing = f"; packages missing: {', '.join(map(str, self.missing_sequences))}" if self.missing_sequences else ""
        return self.lateness.describe() + missing


@dataclass
class MonthlySeries:
    """One county's (or, ``county_code`` None, all of theirs) compensation settled and financing
    raised in each month of a year: index 0 is January."""

    county_code: str | None
    name: str
    compensation: list[Decimal] = field(default_factory=lambda: [ZERO] * 12)
    financing: list[Decimal] = field(default_factory=lambda: [ZERO] * 12)


@dataclass
class RuleStake:
    rule_code: str
    findings: int
    undecided: int
    confirmed: int
    money_at_stake: Decimal


@dataclass
class InstitutionStake:
    institution_id: int
    code: str
    name: str
    level: InstitutionLevel
    area_code: str
    findings: int
    money_at_stake: Decimal


@dataclass
class StartPage:
    table: IndicatorTable
    data: dict[str, DataStatus]
    series: list[MonthlySeries]
    rules: list[RuleStake]
    institutions: list[InstitutionStake]


def start_page(session: Session, period: Period, counties: Sequence[str] | None = None, *,
               cadence: Mapping[str, Cadence] | None = None, today: date | None = None,
               top: int = 10) -> StartPage:
    """Everything the start page shows for ``counties`` (None: the province) in ``period``."""
    return StartPage(indicators(session, period, counties),
                     data_status(session, counties, cadence=cadence, today=today),
                     monthly_series(session, period.year, counties), stake_by_rule(session, period, counties),
                     top_institutions(session, period, counties, limit=top))


def data_status(session: Session, counties: Sequence[str] | None = None, *,
                cadence: Mapping[str, Cadence] | None = None, today: date | None = None) -> dict[str, DataStatus]:
    """Each county's lateness against its cadence (``province.yaml``; default monthly) on ``today``."""
    statuses = timeliness(session)
    judged = judge_all(statuses, cadence or {}, today or date.today())
    return {s.county_code: DataStatus(s.county_code, judged[s.county_code], s.last_received_at,
                                      s.missing_sequences, s.refused_sequences)
            for s in statuses if counties is None or s.county_code in counties}


def monthly_series(session: Session, year: int, counties: Sequence[str] | None = None) -> list[MonthlySeries]:
    """Per county, then their total: compensation against financing, month by month."""
    names = dict(session.execute(sa.select(County.code, County.name).where(*among_codes(County.code, counties))
                                 .order_by(County.code)).all())
    series = {code: MonthlySeries(code, name) for code, name in names.items()}
    paid = (sa.select(CountyMonth.county_code, CountyMonth.month,
                      sa.type_coerce(sa.func.sum(CountyMonth.compensated_amount), Money()))
            .where(CountyMonth.year == year, CountyMonth.county_code.in_(list(names)))
            .group_by(CountyMonth.county_code, CountyMonth.month))
    raised = (sa.select(FundFinancing.county_code, FundFinancing.month,
                        sa.type_coerce(sa.func.sum(FundFinancing.amount), Money()))
              .where(FundFinancing.year == year, FundFinancing.county_code.in_(list(names)))
              .group_by(FundFinancing.county_code, FundFinancing.month))
    total = MonthlySeries(None, "")
    for query, figure in ((paid, "compensation"), (raised, "financing")):
        for county, month, amount in session.execute(query):
            getattr(series[county], figure)[month - 1] = amount
            getattr(total, figure)[month - 1] += amount
    return [*series.values(), total]


def stake_by_rule(session: Session, period: Period, counties: Sequence[str] | None = None) -> list[RuleStake]:
    """Findings and money at stake per rule, the most money first."""
    f = FindingMonth
    stake = sa.type_coerce(sa.func.sum(f.money_at_stake), Money())
    rows = session.execute(
        sa.select(f.rule_code, sa.func.sum(f.findings), sa.func.sum(f.undecided), sa.func.sum(f.confirmed), stake)
        .where(*in_months(f, period), *among_codes(f.county_code, counties)).group_by(f.rule_code)
        .order_by(stake.desc(), f.rule_code))
    return [RuleStake(rule, int(n), int(undecided), int(confirmed), money or ZERO)
            for rule, n, undecided, confirmed, money in rows]


def top_institutions(session: Session, period: Period, counties: Sequence[str] | None = None, *,
                     limit: int = 10) -> list[InstitutionStake]:
    """The institutions with the most money at stake in findings about care in the period (of
    the counties' members), the most first."""
    f, i = FindingMonth, Institution
    stake = sa.type_coerce(sa.func.sum(f.money_at_stake), Money())
    rows = session.execute(
        sa.select(i.id, i.code, i.name, i.level, i.area_code, sa.func.sum(f.findings), stake)
        .join(i, i.id == f.institution_id).where(*in_months(f, period), *among_codes(f.county_code, counties))
        .group_by(i.id, i.code, i.name, i.level, i.area_code).order_by(stake.desc(), i.code).limit(limit))
    return [InstitutionStake(*row[:5], int(row[5]), row[6] or ZERO) for row in rows]
