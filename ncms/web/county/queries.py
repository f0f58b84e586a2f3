"""What the county page reads beyond ``ncms.indicators``: its fund month by month, its
institutions by anomaly score, a page of its findings with their subjects, its batches. Each is
a query on a summary table or an indexed lookup (the finding and batch tables by county, claims
and members by key), never a scan of the claims."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ncms.indicators import Indicators, Period, monthly_series
from ncms.indicators.figures import ZERO, rate
from ncms.models import Batch, CountyMonth, Finding, Institution, InstitutionMonth

PAGE_SIZE = 25


@dataclass
class FundMonth:
    """One month of the county's fund in the period's year: paid, raised, and the year so far."""

    month: int
    compensation: Decimal
    financing: Decimal
    paid_to_date: Decimal
    usage_rate: Decimal | None  # paid to date / the year's financing
    elapsed_share: Decimal | None  # the last month so far with a claim settled, / 12

    @property
    def ahead(self) -> bool:
        """Spending ahead of the year: more of the fund used than of the year elapsed."""
        return self.usage_rate is not None and self.elapsed_share is not None and self.usage_rate > self.elapsed_share


def fund_months(session: Session, year: int, county: str) -> list[FundMonth]:
    """The twelve months of ``year``, as ``Indicators`` computes the fund for a month period."""
    series = monthly_series(session, year, [county])[0]
    settled = dict(session.execute(
        sa.select(CountyMonth.month, sa.func.sum(CountyMonth.claims))
        .where(CountyMonth.county_code == county, CountyMonth.year == year).group_by(CountyMonth.month)).all())
    year_financing = sum(series.financing, ZERO)
    out, paid, reached = [], ZERO, 0
    for month in range(1, 13):
        paid += series.compensation[month - 1]
        if settled.get(month):
            reached = month
        out.append(FundMonth(month, series.compensation[month - 1], series.financing[month - 1], paid,
                             rate(paid, year_financing), rate(reached, 12) if reached else None))
    return out


@dataclass
class ScoredInstitution:
    institution_id: int
    code: str
    name: str
    score: float
    windows: int  # windows scored in the period
    flagged: int  # of them scored 1 or above


def anomaly_ranking(session: Session, period: Period, county: str, limit: int = 10) -> list[ScoredInstitution]:
    """The county's institutions by their highest anomaly score (``institution_month.score``, the
    monitor's model) over the windows that overlap the period, highest first."""
    m, i = InstitutionMonth, Institution
    top = sa.func.max(m.score)
    rows = session.execute(
        sa.select(i.id, i.code, i.name, top, sa.func.count(m.score), sa.func.sum(sa.case((m.score >= 1, 1), else_=0)))
        .join(i, i.id == m.institution_id)
        .where(m.county_code == county, m.year == period.year, m.score.is_not(None),
               m.month <= period.last_month, m.month + m.months - 1 >= period.first_month)
        .group_by(i.id, i.code, i.name).order_by(top.desc(), i.code).limit(limit))
    return [ScoredInstitution(ident, code, name, float(score), int(windows), int(flagged or 0))
            for ident, code, name, score, windows, flagged in rows]


def findings_in(period: Period, county: str, fund_rules: frozenset[str]) -> list[Any]:
    """The conditions of a county's findings about care in the period (the month their period
    starts, else the month they were raised: as the findings' summary places them), the fund
    warnings apart (the fund's state, shown with the fund)."""
    from datetime import datetime, time, timezone

    start = datetime.combine(period.start, time.min, tzinfo=timezone.utc)
    end = datetime.combine(period.end, time.max, tzinfo=timezone.utc)
    return [Finding.county_code == county, Finding.rule_code.not_in(fund_rules),
            sa.or_(Finding.period_start.between(period.start, period.end),
                   sa.and_(Finding.period_start.is_(None), Finding.first_seen_at.between(start, end)))]


@dataclass
class Subject:
    """What a finding is about, as the page shows it: its kind, a label and the page to open."""

    kind: str  # claim, member, institution, other
    label: str
    endpoint: str | None = None
    values: dict[str, Any] | None = None
    name: str | None = None  # the member's name (masked by the template), for the roles that may see it
    county: str | None = None  # whose page it links to: an institution's may be in another county


def findings_page(session: Session, period: Period, county: str,
                  page: int) -> tuple[list[tuple[Finding, Subject]], int]:
    """One page of the county's findings in the period, the largest amounts first, with their
    subjects; and how many there are."""
    from ncms.monitor.stake import FUND_RULES

    where = findings_in(period, county, FUND_RULES)
    total = session.scalar(sa.select(sa.func.count(Finding.id)).where(*where)) or 0
    rows = list(session.scalars(sa.select(Finding).where(*where)
                                .order_by(Finding.amount_at_stake.desc(), Finding.id)
                                .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)))
    return list(zip(rows, subjects(session, county, rows))), total


def subjects(session: Session, county: str, findings: list[Finding]) -> list[Subject]:
    """Each finding's subject (``ncms.monitor.subjects``) with the page it links to."""
    from ncms.monitor.subjects import subjects as read

    out = []
    for s in read(session, county, findings):
        if s.kind == "claim":
            out.append(Subject("claim", s.label, "claim.show", {"claim_id": s.claim_id}, s.name))
        elif s.kind == "member":
            out.append(Subject("member", s.label, "member.show" if s.member_id else None,
                               {"member_id": s.member_id} if s.member_id else None, s.name))
        elif s.kind == "institution":
            out.append(Subject("institution", f"{s.label} {s.window}".strip(), "institution.show",
                               {"code": s.institution_code}, county=s.area_code))
        else:
            out.append(Subject("other", s.label))
    return out


def batches_of(session: Session, period: Period, county: str, limit: int = 50) -> list[Batch]:
    """The county's batches whose data covers part of the period (or that say no period), the
    newest first."""
    return list(session.scalars(
        sa.select(Batch).where(Batch.county_code == county,
                               sa.or_(Batch.period_start.is_(None), Batch.period_start <= period.end),
                               sa.or_(Batch.period_end.is_(None), Batch.period_end >= period.start))
        .order_by(Batch.received_at.desc(), Batch.id.desc()).limit(limit)))


def county_figures(table: Any) -> Indicators:
    return table.counties[0] if table.counties else table.total
