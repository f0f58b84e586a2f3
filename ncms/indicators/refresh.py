"""Keeping the summary tables (ncms.models.summary) in step with the claims, enrolments and
findings, so that no page or report scans the claims.

- After a batch loads (``after_batch``, called by ``ncms.ingest.pipeline``): the months its
  claims are settled in and the years its enrolments (or its members' enrolments) are of, in
  its county, are recomputed (``refresh_batch``). A claim the batch moved into one of those
  months from another (a corrected settlement date) would leave the other month counting it:
  the county's rows then count more claims than the county has, and the county is recomputed
  whole. Claims are never deleted (a county voids them), so the count tells.
- After a monitoring run (``after_monitor``, called by ``ncms.monitor.engine``): the findings'
  table is rebuilt whole (``refresh_findings``): money at stake counts each claim's money once
  over the whole province, so no county's part of it can be recomputed alone.
- ``rebuild``: everything, for ``ncms indicators refresh``.

Functions take the caller's session and at most flush; the hooks own their transaction."""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ncms import log
from ncms.models import (Batch, BatchStatus, Claim, ClaimKind, County, CountyMonth, CountyYear, Enrolment, Finding,
                         FindingMonth, FindingStatus, Institution, Member)
from ncms.models.base import utcnow

from .period import Period

logger = logging.getLogger("ncms.indicators")
UNDECIDED = (FindingStatus.OPEN, FindingStatus.SENT_TO_COUNTY, FindingStatus.COUNTY_RESPONDED)


@dataclass
class Refreshed:
    """What one refresh recomputed."""

    county_code: str | None = None
    months: list[tuple[int, int]] = field(default_factory=list)
    years: list[int] = field(default_factory=list)
    whole: bool = False  # the county's claim months recomputed whole
    seconds: float = 0.0


def refresh_summaries(session: Session, county_code: str, *, months: Iterable[tuple[int, int]] = (),
                      years: Iterable[int] = (), enrolment_years: Iterable[int] = ()) -> Refreshed:
    """Recompute a county's claims of ``months`` ((year, month)s) and of every month of ``years``,
    and its enrolment of ``years`` and ``enrolment_years``; the county's claim months whole if
    some claim moved into a month recomputed from one that was not."""
    started = time.perf_counter()
    keys = sorted(set(months) | {m for y in set(years) for m in Period("year", y).months})
    years = sorted(set(years) | set(enrolment_years))
    done = Refreshed(county_code, keys, years)
    if keys:
        _claim_months(session, county_code, keys)
        if not _claims_agree(session, county_code):
            _claim_months(session, county_code, None)
            done.whole = True
    if years:
        _enrolment_years(session, county_code, years)
    session.flush()
    done.seconds = time.perf_counter() - started
    return done


def refresh_batch(session: Session, batch_id: int, *, months: Iterable[tuple[int, int]] | None = None,
                  years: Iterable[int] | None = None) -> Refreshed:
    """The summaries a batch changed: its claims' months, and the years of its enrolments and of
    its members' enrolments (a member moved to another household changes its years' count of
    households), in its county.

    The loader knows the months (year, month) of the claims it wrote, the years of its
    enrolments and of the enrolments of the members it moved, and gives them (``months``,
    ``years``: a superset does no harm); without them they are read from the rows the batch
    wrote, which carry no index by batch."""
    from ncms.monitor.catalogue import month_of, year_of

    batch = session.execute(sa.select(Batch.county_code, Batch.status).where(Batch.id == batch_id)).first()
    if batch is None or batch.status not in (BatchStatus.LOADED, BatchStatus.PARTIAL):
        return Refreshed()  # refused or failed: nothing of it was loaded
    county = batch.county_code
    if months is None:
        settled = Claim.settlement_date
        months = session.execute(sa.select(year_of(settled), month_of(settled))
                                 .where(Claim.county_code == county, Claim.batch_id == batch_id).distinct()).all()
    if years is None:
        years = set(session.scalars(sa.select(Enrolment.year).where(Enrolment.county_code == county,
                                                                    Enrolment.batch_id == batch_id).distinct()))
        years.update(session.scalars(  # the members it wrote: any of them may have moved
            sa.select(Enrolment.year).join(Member, Member.id == Enrolment.member_id)
            .where(Member.county_code == county, Member.batch_id == batch_id).distinct()))
    return refresh_summaries(session, county, months=[tuple(m) for m in months], enrolment_years=years)


def refresh_findings(session: Session) -> int:
    """Rebuild the findings' summary whole; the rows written."""
    from ncms.monitor.catalogue import month_of, year_of
    from ncms.monitor.stake import FUND_RULES, counted, holding

    money = counted(*holding()).subquery("money")
    f = Finding
    day = sa.func.coalesce(f.period_start, f.first_seen_at)
    year, month = year_of(day), month_of(day)
    holds = sa.and_(*holding())
    confirmed = f.status == FindingStatus.CONFIRMED
    stake = sa.func.coalesce(money.c.counted, 0)
    query = (sa.select(f.county_code, year, month, f.rule_code, f.institution_id, sa.func.count(),
                       _count(f.status.in_(UNDECIDED)), _count(confirmed), _count(f.status == FindingStatus.DISMISSED),
                       _count(f.status == FindingStatus.CLOSED), _sum(holds, f.amount_at_stake), sa.func.sum(stake),
                       _sum(confirmed, stake), sa.literal(utcnow(), FindingMonth.computed_at.type))
             .outerjoin(money, money.c.id == f.id).where(f.rule_code.not_in(FUND_RULES))
             .group_by(f.county_code, year, month, f.rule_code, f.institution_id))
    session.execute(sa.delete(FindingMonth))
    session.execute(sa.insert(FindingMonth).from_select(
        ["county_code", "year", "month", "rule_code", "institution_id", "findings", "undecided", "confirmed",
         "dismissed", "closed", "amount", "money_at_stake", "confirmed_money", "computed_at"], query))
    session.flush()
    return session.scalar(sa.select(sa.func.count()).select_from(FindingMonth)) or 0


def rebuild(session: Session, counties: Iterable[str] | None = None) -> list[Refreshed]:
    """Every summary recomputed from the claims, enrolments and findings: each county's claim
    months and enrolment years whole, then the findings."""
    done = []
    codes = list(counties) if counties else list(session.scalars(sa.select(County.code).order_by(County.code)))
    for county in codes:
        started = time.perf_counter()
        _claim_months(session, county, None)
        years = list(session.scalars(sa.select(Enrolment.year).where(Enrolment.county_code == county).distinct()))
        session.execute(sa.delete(CountyYear).where(CountyYear.county_code == county))
        if years:
            _enrolment_years(session, county, years)
        session.flush()
        done.append(Refreshed(county, years=sorted(years), whole=True, seconds=time.perf_counter() - started))
    refresh_findings(session)
    return done


def after_batch(engine: Engine, batch_id: int | None, *, months: Iterable[tuple[int, int]] | None = None,
                years: Iterable[int] | None = None) -> None:
    """The ingestion's hook: the batch's summaries (``refresh_batch``), in a transaction of
    their own once the batch has committed. A failure is logged, not raised: the batch stands,
    and ``ncms indicators refresh`` recomputes what was missed."""
    from ncms.db import session_scope

    if batch_id is None:
        return
    try:
        with session_scope(engine) as session:
            _just_loaded(session)
            done = refresh_batch(session, batch_id, months=months, years=years)
    except SQLAlchemyError as exc:
        log.event(logger, "indicators.refresh_failed", level=logging.ERROR, batch=batch_id, error=str(exc),
                  remedy="ncms indicators refresh")
        return
    log.event(logger, "indicators.refresh", batch=batch_id, county=done.county_code, months=len(done.months),
              years=len(done.years), whole=done.whole, seconds=round(done.seconds, 3))


def _just_loaded(session: Session) -> None:
    """PostgreSQL, for the transaction: the tables a batch has just filled have no statistics
    yet (the autovacuum daemon analyses them later, if it runs), so the planner takes the
    county's claims or enrolments for a row or two: it looked up each enrolment's member by
    its id, and sorted a county's claims of a year (on disk) to group them by day. Hash
    joins and hashed groups in memory instead (1,000,000 claims, six counties: enrolment
    years 2.3 -> 1.3 s, claim months 2.6 -> 1.3 s)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SET LOCAL work_mem = '64MB'"))
        session.execute(sa.text("SET LOCAL enable_nestloop = off"))
        session.execute(sa.text("SET LOCAL enable_sort = off"))


def after_monitor(engine: Engine) -> None:
    """The monitoring's hook: the findings' summary rebuilt (a failure logged, as ``after_batch``)."""
    from ncms.db import session_scope

    started = time.perf_counter()
    try:
        with session_scope(engine) as session:
            rows = refresh_findings(session)
    except SQLAlchemyError as exc:
        log.event(logger, "indicators.refresh_failed", level=logging.ERROR, error=str(exc),
                  remedy="ncms indicators refresh")
        return
    log.event(logger, "indicators.findings", rows=rows, seconds=round(time.perf_counter() - started, 3))


def _claim_months(session: Session, county: str, keys: list[tuple[int, int]] | None) -> None:
    """Replace the county's rows of ``keys`` (None: all of them) from its claims.

    The claims are summed by day, institution and state first, and the days rolled up into
    months: the date parts, the institution's level and the tests of a claim's state then run
    once a day and institution, not once a claim (on SQLite a third less; each run of months is
    one range of days, not a test a month)."""
    from ncms.monitor.catalogue import days_between, larger, month_of, year_of

    c, i = Claim, Institution
    stay_days = larger(days_between(c.admission_date, sa.func.coalesce(c.discharge_date, c.admission_date)), 1)
    where = [c.county_code == county]
    old = [CountyMonth.county_code == county]
    if keys is not None:
        where.append(sa.or_(*(c.settlement_date.between(first, last) for first, last in _day_ranges(keys))))
        old.append(sa.or_(*(sa.and_(CountyMonth.year == y, CountyMonth.month == m) for y, m in keys)))
    day = (sa.select(c.settlement_date.label("day"), c.kind, c.institution_id, c.voided,
                     sa.func.count().label("claims"),
                     sa.func.count(sa.case((c.compensated_amount > 0, 1))).label("compensated"),
                     sa.func.count(sa.case((c.referral, 1))).label("referred"),
                     sa.func.sum(sa.case((c.kind == ClaimKind.INPATIENT, stay_days))).label("bed_days"),
                     sa.func.sum(c.total_amount).label("total"), sa.func.sum(c.eligible_amount).label("eligible"),
                     sa.func.sum(c.compensated_amount).label("paid"))
           .where(*where).group_by(c.settlement_date, c.kind, c.institution_id, c.voided).subquery("day"))
    year, month = year_of(day.c.day), month_of(day.c.day)
    live = day.c.voided.is_(False)
    query = (sa.select(sa.literal(county, CountyMonth.county_code.type), year, month, day.c.kind, i.level,
                       _sum(live, day.c.claims), _sum(live, day.c.compensated), _sum(day.c.voided, day.c.claims),
                       _sum(sa.and_(live, i.area_code != county), day.c.claims), _sum(live, day.c.referred),
                       _sum(sa.and_(live, day.c.kind == ClaimKind.INPATIENT), day.c.bed_days),
                       _sum(live, day.c.total), _sum(live, day.c.eligible), _sum(live, day.c.paid),
                       sa.literal(utcnow(), CountyMonth.computed_at.type))
             .join(i, i.id == day.c.institution_id).group_by(year, month, day.c.kind, i.level))
    session.execute(sa.delete(CountyMonth).where(*old))
    session.execute(sa.insert(CountyMonth).from_select(
        ["county_code", "year", "month", "kind", "level", "claims", "compensated_claims", "voided", "out_of_county",
         "referred", "bed_days", "total_amount", "eligible_amount", "compensated_amount", "computed_at"], query))


def _claims_agree(session: Session, county: str) -> bool:
    """Whether the county's rows count every claim row of the county once (the count from the
    claims' (county, source id) index alone)."""
    summed = session.scalar(sa.select(sa.func.coalesce(sa.func.sum(CountyMonth.claims + CountyMonth.voided), 0))
                            .where(CountyMonth.county_code == county))
    return int(summed) == session.scalar(sa.select(sa.func.count()).select_from(Claim)
                                         .where(Claim.county_code == county))


def _enrolment_years(session: Session, county: str, years: list[int]) -> None:
    """Replace the county's rows of ``years`` from its enrolments, read by county
    (``ix_enrolment_county_year``), and its members: an enrolment's member is of its county,
    and so named PostgreSQL hashes the county's members, not the province's."""
    e, m = Enrolment, Member
    query = (sa.select(e.county_code, e.year, sa.func.count(), sa.func.count(sa.distinct(m.household_id)),
                       sa.func.coalesce(sa.func.sum(e.contribution), 0),
                       sa.literal(utcnow(), CountyYear.computed_at.type))
             .outerjoin(m, sa.and_(m.id == e.member_id, m.county_code == county))
             .where(e.county_code == county, e.year.in_(years))
             .group_by(e.county_code, e.year))
    session.execute(sa.delete(CountyYear).where(CountyYear.county_code == county, CountyYear.year.in_(years)))
    session.execute(sa.insert(CountyYear).from_select(
        ["county_code", "year", "members", "households", "contributions", "computed_at"], query))


def _day_ranges(keys: list[tuple[int, int]]) -> list[tuple[date, date]]:
    """The first and last day of each run of consecutive months among ``keys`` (sorted)."""
    ranges: list[tuple[date, date]] = []
    for year, month in keys:
        period = Period("month", year, month)
        if ranges and ranges[-1][1] + timedelta(days=1) == period.start:
            ranges[-1] = (ranges[-1][0], period.end)
        else:
            ranges.append((period.start, period.end))
    return ranges


def _count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _sum(condition: sa.ColumnElement[bool], value: sa.ColumnElement) -> sa.ColumnElement:
    return sa.func.coalesce(sa.func.sum(sa.case((condition, value), else_=0)), 0)
