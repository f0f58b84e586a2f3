"""Supervision figures by county and rule: the findings about care in a period, how many were
pushed to the county, determined a violation or dismissed, and the money to recover and
recovered (the review loop's fields, docs/review.md). The counts and the money to recover are
grouped in SQL over the findings themselves: their summary table (``finding_month``) holds no
pushes nor recoveries. The money at stake is that table's, each claim's money counted once, as
the indicators and the console give it. Definitions: docs/indicators.md#supervision-by-rule-and-county.

``review(session, counties, today=…)`` gives the review loop as it stands (every finding, every
period): per county its findings by status, how many are overdue, the money determined and
recovered, and the median days from a finding raised to its decision
(docs/indicators.md#the-review-loop)."""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session

from ncms.models import Finding, FindingMonth, FindingStatus, Money

from .compute import among_codes, in_months
from .figures import ZERO, rate
from .period import Period

UNDECIDED = (FindingStatus.OPEN, FindingStatus.SENT_TO_COUNTY, FindingStatus.COUNTY_RESPONDED)


@dataclass
class Supervision:
    """One county's findings of one rule (or, added up, any set of them) about care in a period."""

    county_code: str | None = None
    rule_code: str | None = None
    raised: int = 0  # 疑点数: every status
    pushed: int = 0  # 推送县区: pushed to the county at least once
    undecided: int = 0  # 待处理: open, with the county or answered by it
    determined: int = 0  # 认定违规: confirmed
    dismissed: int = 0  # 排除
    closed: int = 0  # no longer holds
    money_at_stake: Decimal = ZERO  # 涉及金额 of the findings that hold, each claim's money once (finding_month)
    amount_to_recover: Decimal = ZERO  # 应追回金额 of the determined findings
    amount_recovered: Decimal = ZERO  # 已追回金额

    def __add__(self, other: "Supervision") -> "Supervision":
        keep = {"county_code": self.county_code if self.county_code == other.county_code else None,
                "rule_code": self.rule_code if self.rule_code == other.rule_code else None}
        return Supervision(**keep, **{f.name: getattr(self, f.name) + getattr(other, f.name)
                                      for f in fields(self) if f.name not in keep})

    @property
    def push_rate(self) -> Decimal | None:  # 推送率: pushed / raised
        return rate(self.pushed, self.raised)

    @property
    def determination_rate(self) -> Decimal | None:  # 认定率: determined / decided (determined + dismissed)
        return rate(self.determined, self.determined + self.dismissed)

    @property
    def recovery_rate(self) -> Decimal | None:  # 追回率: recovered / to recover
        return rate(self.amount_recovered, self.amount_to_recover)


def supervision(session: Session, period: Period, counties: Sequence[str] | None = None) -> list[Supervision]:
    """One ``Supervision`` per county and rule with findings about care in ``period`` (placed as
    the indicators place them: the month their period starts, else the month they were raised;
    the fund early warnings left out), in county and rule order."""
    from ncms.monitor.catalogue import month_of, year_of
    from ncms.monitor.stake import FUND_RULES

    f = Finding
    day = sa.func.coalesce(f.period_start, f.first_seen_at)

    def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    def money(condition: sa.ColumnElement[bool], amount: sa.ColumnElement) -> sa.ColumnElement:
        return sa.type_coerce(sa.func.coalesce(sa.func.sum(sa.case((condition, amount), else_=0)), 0), Money())

    determined = f.status == FindingStatus.CONFIRMED
    query = (sa.select(f.county_code, f.rule_code, sa.func.count(), count(f.pushed_at.is_not(None)),
                       count(f.status.in_(UNDECIDED)), count(determined),
                       count(f.status == FindingStatus.DISMISSED), count(f.status == FindingStatus.CLOSED),
                       money(determined, sa.func.coalesce(f.amount_to_recover, 0)),
                       money(sa.true(), sa.func.coalesce(f.amount_recovered, 0)))
             .where(f.rule_code.not_in(FUND_RULES), year_of(day) == period.year,
                    month_of(day).between(period.first_month, period.last_month),
                    *among_codes(f.county_code, counties))
             .group_by(f.county_code, f.rule_code).order_by(f.county_code, f.rule_code))
    stake = _money_at_stake(session, period, counties)
    return [Supervision(county, rule, *(int(n) for n in values[:6]), stake.get((county, rule), ZERO),
                        *(_cents(m) for m in values[6:]))
            for county, rule, *values in session.execute(query)]


def _money_at_stake(session: Session, period: Period, counties: Sequence[str] | None) -> dict[tuple[str, str], Decimal]:
    m = FindingMonth
    return {(county, rule): _cents(amount) for county, rule, amount in session.execute(
        sa.select(m.county_code, m.rule_code, sa.type_coerce(sa.func.sum(m.money_at_stake), Money()))
        .where(*in_months(m, period), *among_codes(m.county_code, counties)).group_by(m.county_code, m.rule_code))}


@dataclass
class Review:
    """One county's findings in the review loop as they stand on a day (or, added up, any set of
    counties'): every finding, whatever the period of the care it is about."""

    county_code: str | None = None
    open: int = 0  # 待推送: open (raised or reopened, maybe assigned), not yet with the county
    with_county: int = 0  # 待县区答复: sent_to_county (pushed or sent back), not answered
    overdue: int = 0  # 逾期: of them, the deadline (due_on) passed before the day
    answered: int = 0  # 待复核: county_responded, awaiting the province's review
    determined: int = 0  # 认定违规: confirmed
    dismissed: int = 0  # 排除
    closed: int = 0  # no longer holds (closed by a rule run)
    amount_to_recover: Decimal = ZERO  # 应追回金额 of the determined findings
    amount_recovered: Decimal = ZERO  # 已追回金额, of every finding (kept through a reopening)
    # days from raised (first_seen_at) to decided (decided_at) of each determined or dismissed finding
    closing_days: list[float] = field(default_factory=list, repr=False, compare=False)

    def __add__(self, other: "Review") -> "Review":
        keep = self.county_code if self.county_code == other.county_code else None
        return Review(keep, *(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)
                              if f.name != "county_code"))

    @property
    def findings(self) -> int:
        return self.open + self.with_county + self.answered + self.determined + self.dismissed + self.closed

    @property
    def decided(self) -> int:
        return self.determined + self.dismissed

    @property
    def median_days_to_close(self) -> float | None:  # 办结天数中位数
        return statistics.median(self.closing_days) if self.closing_days else None

    @property
    def recovery_rate(self) -> Decimal | None:  # 追回率
        return rate(self.amount_recovered, self.amount_to_recover)


class seconds_between(sa.sql.expression.FunctionElement):  # noqa: N801 - SQL function style
    """Seconds from the first timestamp to the second (``b - a``), as a float."""

    type = sa.Float()
    inherit_cache = True


@compiles(seconds_between)
def _seconds_default(element: Any, compiler: Any, **kw: Any) -> str:
    first, second = (compiler.process(c, **kw) for c in element.clauses)
    return f"EXTRACT(EPOCH FROM ({second} - {first}))"


@compiles(seconds_between, "sqlite")
def _seconds_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    first, second = (compiler.process(c, **kw) for c in element.clauses)
    return f"((julianday({second}) - julianday({first})) * 86400.0)"


@compiles(seconds_between, "mysql")
@compiles(seconds_between, "mariadb")
def _seconds_mysql(element: Any, compiler: Any, **kw: Any) -> str:
    first, second = (compiler.process(c, **kw) for c in element.clauses)
    return f"TIMESTAMPDIFF(MICROSECOND, {first}, {second}) / 1000000.0"


DAY = 86400.0


def review(session: Session, counties: Sequence[str] | None = None, *, today: date) -> list[Review]:
    """One ``Review`` per county with findings, in county order: one grouped query over the
    findings by county (``ix_finding_county_status``), and one over the decided findings'
    durations, whose medians are taken here (SQLite has no percentile; the same code on both)."""
    f = Finding

    def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)

    def money(condition: sa.ColumnElement[bool], amount: sa.ColumnElement) -> sa.ColumnElement:
        return sa.type_coerce(sa.func.coalesce(sa.func.sum(sa.case((condition, amount), else_=0)), 0), Money())

    status = FindingStatus
    sent = f.status == status.SENT_TO_COUNTY
    determined = f.status == status.CONFIRMED
    rows = session.execute(
        sa.select(f.county_code, count(f.status == status.OPEN), count(sent), count(sent & (f.due_on < today)),
                  count(f.status == status.COUNTY_RESPONDED), count(determined),
                  count(f.status == status.DISMISSED), count(f.status == status.CLOSED),
                  money(determined, sa.func.coalesce(f.amount_to_recover, 0)),
                  money(sa.true(), sa.func.coalesce(f.amount_recovered, 0)))
        .where(*among_codes(f.county_code, counties)).group_by(f.county_code).order_by(f.county_code))
    out = {county: Review(county, *(int(n) for n in values[:7]), *(_cents(m) for m in values[7:]))
           for county, *values in rows}
    durations = session.execute(
        sa.select(f.county_code, seconds_between(f.first_seen_at, f.decided_at))
        .where(f.status.in_((status.CONFIRMED, status.DISMISSED)), f.decided_at.is_not(None),
               *among_codes(f.county_code, counties)))
    for county, seconds in durations:
        if seconds is not None and county in out:
            out[county].closing_days.append(max(0.0, float(seconds)) / DAY)
    return list(out.values())


def overdue_findings(session: Session, county: str, *, today: date, limit: int = 50) -> tuple[list[Finding], int]:
    """The county's findings with it past their deadline (``sent_to_county``, ``due_on`` before
    ``today``), the longest overdue first, at most ``limit``; and how many there are
    (``ix_finding_status_due_on``)."""
    f = Finding
    where = (f.status == FindingStatus.SENT_TO_COUNTY, f.due_on < today, f.county_code == county)
    total = session.scalar(sa.select(sa.func.count()).select_from(f).where(*where)) or 0
    found = list(session.scalars(sa.select(f).where(*where).order_by(f.due_on, f.id).limit(limit))) if total else []
    return found, int(total)


def _cents(value: Decimal | int | None) -> Decimal:
    return Decimal(value or 0).quantize(ZERO)
