"""Features of each institution per window of care (domain.md §3): what the anomaly model
compares an institution with its peers on, stored in ``institution_month`` for the model and
the UI; and each member's year of care summed up in ``member_year``, for the UI.

Five set-based queries, each one pass over the claims (or the items, or the enrolments)
grouped by institution and month of care; the months' sums are then summed again per quarter
and per year to date (``windows``: a township centre's 10-40 stays a year say nothing in a
month), and the features are ratios of a window's sums, in a frame of a few thousand rows.
Only the *intensive* features (per case, per stay, per bed day, per member, shares) are
scored: a big institution is not unusual for its size (``cases`` is kept and shown, never
scored).
"""
from __future__ import annotations

import logging
import time
from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ncms import log
from ncms.db import insert_rows
from ncms.models import (Claim, ClaimItem, ClaimKind, County, Enrolment, Household, Institution, InstitutionLevel,
                         InstitutionMonth, ItemCategory, Member, MemberYear, SchemeLevel)
from ncms.models.base import utcnow

from .catalogue import CATALOGUE, days_between, month_of, with_scheme, year_of
from .windows import WINDOWS

logger = logging.getLogger("ncms.monitor")

# the features the model scores, with what each is (docs/anomaly.md, the finding's explanation)
FEATURES: dict[str, str] = {
    "cost_per_visit": "total cost per outpatient visit (次均门诊费用)",
    "cost_per_stay": "total cost per stay (次均住院费用)",
    "length_of_stay": "days per stay",
    "drug_share": "drugs' share of the items billed (药占比)",
    "exam_share": "exams' and laboratory tests' share of the items billed",
    "readmission_rate": "share of stays readmitted to the same institution within 15 days of a discharge",
    "under_cap_share": "share of outpatient visits paid within 5 % below the per-visit cap",
    "compensation_ratio": "compensation paid per yuan of total cost (实际补偿比)",
    "growth": "claims against the month before, as a growth rate",
    "out_of_county_share": "share of claims of members from other counties",
    "diagnosis_concentration": "how concentrated the main diagnoses are (chance two claims share one)",
    "short_cheap_share": "share of stays both short and cheap (the low-standard admission rule's bounds, 低标准入院)",
    "cost_per_bed_day": "total cost of the stays per day in hospital (low: beds filled without care, 挂床)",
    "long_cheap_share": "share of stays both long and cheap per day (near the ghost stay rule's bounds, 挂床)",
    "admissions_per_member": "stays per 1,000 enrolled members of the institution's area and year",
    "admissions_per_visit": "stays per outpatient visit at the institution",
}
# shares of a count, with the count they are a share of: a share over few is noisy (anomaly._z)
COUNTED = {"readmission_rate": "stays", "under_cap_share": "visits", "out_of_county_share": "cases",
           "short_cheap_share": "stays", "long_cheap_share": "stays", "admissions_per_visit": "visits"}
# features whose LOW values are unusual (everything else: high)
LOW_IS_UNUSUAL = frozenset({"cost_per_bed_day"})
READMISSION_DAYS = 15
UNDER_CAP = Decimal("0.95")  # a visit paid at 95-100 % of the cap is "just under" it
KEY = ["institution_id", "year", "month"]
# a rate over fewer stays (visits) is left out: one readmission of 13 stays is not a rate
# (it put a township 9.5 peer spreads above peers whose median was none)
MIN_STAYS = 20
MIN_STAYS_FOR_LENGTH = 5  # a mean length of stay steadies sooner
MIN_STAYS_FOR_SHARE = 10  # (and a share of stays, or a cost per bed day, soon after)
# a short, cheap stay: within the low-standard admission rule's default bounds (days, yuan)
SHORT_CHEAP = next((r.params["max_days"], r.params["max_total"]) for r in CATALOGUE if r.code == "low_standard_admission")
# a long, cheap stay: near the ghost stay rule (15 days, under 50 yuan a day), not in it: 10 days or
# more at under 100 yuan a day; one proves nothing, many at one institution are its pattern
LONG_CHEAP = (10, 100)
MONEY = ("total_amount", "compensated_amount")  # summed as floats here (exact to the cent at these sizes)


def compute_features(engine: Engine, period: tuple[date, date] | None = None) -> pl.DataFrame:
    """The features of every institution of the province's counties for the months of care in
    ``period`` (default: all), from all their claims (of patients of any county): one row per
    institution and window (``window``: month, quarter or year to date; ``month`` its first
    month, ``months`` how many it spans). Province-wide, whatever counties a run judges: they
    are its peers. ``anomaly.score`` picks the window each institution is judged over."""
    started = time.perf_counter()
    where = [Claim.voided.is_(False), Institution.area_code.in_(sa.select(County.code))]
    if period:
        where.append(Claim.admission_date.between(*period))
    with engine.connect() as conn:
        parts = [_frame(conn, query(where)) for query in (_claims, _items, _readmissions, _diagnoses)]
        areas = _areas(conn)
    frame = windows(parts, areas)
    log.event(logger, "monitor.features", rows=frame.height, seconds=round(time.perf_counter() - started, 3))
    return frame


def store_features(conn: sa.Connection, frame: pl.DataFrame, period: tuple[date, date] | None) -> None:
    """Store the rows of ``frame`` (features and scores) in place of those stored for the period."""
    stored = sa.delete(InstitutionMonth)
    if period:
        first, last = (period[0].year * 100 + period[0].month, period[1].year * 100 + period[1].month)
        stored = stored.where((InstitutionMonth.year * 100 + InstitutionMonth.month).between(first, last))
    conn.execute(stored)
    columns = set(InstitutionMonth.__table__.columns.keys())
    insert_rows(conn, InstitutionMonth.__table__, [
        {key: Decimal(f"{value:.2f}") if key in MONEY else value for key, value in row.items() if key in columns}
        for row in frame.to_dicts()])


def store_member_years(conn: sa.Connection, period: tuple[date, date] | None) -> int:
    """Sum up each member's claims per year of care (of the years ``period`` touches, default
    all) into ``member_year``, in place of what was there: one INSERT … SELECT in the database."""
    year = year_of(Claim.admission_date)
    where, years = [Claim.voided.is_(False)], []
    if period:
        where.append(year.between(period[0].year, period[1].year))
        years.append(MemberYear.year.between(period[0].year, period[1].year))
    conn.execute(sa.delete(MemberYear).where(*years))
    inpatient = Claim.kind == ClaimKind.INPATIENT
    summed = (sa.select(Claim.county_code, Claim.member_no, year, sa.func.count(), _count(inpatient),
                        sa.func.coalesce(sa.func.sum(sa.case(
                            (inpatient, days_between(Claim.admission_date, Claim.discharge_date)), else_=0)), 0),
                        sa.func.count(sa.distinct(Claim.institution_id)),
                        _count(sa.func.coalesce(Institution.area_code, "") != Claim.county_code),
                        sa.func.sum(Claim.total_amount), sa.func.sum(Claim.compensated_amount),
                        sa.func.max(Claim.total_amount), sa.literal(utcnow(), MemberYear.computed_at.type))
              .outerjoin(Institution, Institution.id == Claim.institution_id)
              .where(*where).group_by(Claim.member_no, Claim.county_code, year))
    conn.execute(sa.insert(MemberYear).from_select(
        ["county_code", "member_no", "year", "claims", "stays", "stay_days", "institutions", "out_of_county",
         "total_amount", "compensated_amount", "largest_claim", "computed_at"], summed))
    # (SQLite reports no row count for an INSERT … SELECT)
    return conn.scalar(sa.select(sa.func.count()).select_from(MemberYear).where(*years)) or 0


def _frame(conn: sa.Connection, query: sa.Select) -> pl.DataFrame:
    result = conn.execute(query)
    columns = list(result.keys())
    rows = [tuple(float(v) if isinstance(v, Decimal) else v for v in row) for row in result]
    return pl.DataFrame(rows, schema=columns, orient="row", infer_schema_length=None)


def _month(claim: Any) -> list[sa.ColumnElement[int]]:
    return [year_of(claim.admission_date).label("year"), month_of(claim.admission_date).label("month")]


def _count(condition: Any) -> sa.ColumnElement[int]:
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _claims(where: list[Any]) -> sa.Select:
    """Per institution and month: cases, stays and their days and cost, the short and cheap
    stays and the long and cheap ones, money, visits just under the cap (the scheme's terms for the claim's county, year,
    kind and level, where it has them), patients from elsewhere."""
    inpatient = Claim.kind == ClaimKind.INPATIENT
    year = year_of(Claim.admission_date)
    short, cheap = SHORT_CHEAP
    under_cap = sa.and_(Claim.kind == ClaimKind.OUTPATIENT, SchemeLevel.per_visit_cap > 0,
                        Claim.compensated_amount < SchemeLevel.per_visit_cap,
                        Claim.compensated_amount >= SchemeLevel.per_visit_cap * UNDER_CAP)
    summed = sa.select(Claim.institution_id, *_month(Claim), Institution.area_code.label("county_code"),
                       Institution.level, sa.func.count().label("cases"), _count(inpatient).label("stays"),
                       sa.func.sum(sa.case((inpatient, days_between(Claim.admission_date, Claim.discharge_date)),
                                           else_=0)).label("stay_days"),
                       sa.func.sum(Claim.total_amount).label("total_amount"),
                       sa.func.sum(Claim.compensated_amount).label("compensated_amount"),
                       _count(Claim.kind == ClaimKind.OUTPATIENT).label("visits"),
                       _count(under_cap).label("under_cap"),
                       sa.func.sum(sa.case((inpatient, Claim.total_amount), else_=0)).label("stay_amount"),
                       sa.func.sum(sa.case((inpatient, 0), else_=Claim.total_amount)).label("visit_amount"),
                       _count(inpatient & (days_between(Claim.admission_date, Claim.discharge_date) <= short)
                              & (Claim.total_amount <= cheap)).label("short_cheap"),
                       _count(inpatient & (days_between(Claim.admission_date, Claim.discharge_date) >= LONG_CHEAP[0])
                              & (Claim.total_amount < days_between(Claim.admission_date, Claim.discharge_date)
                                 * LONG_CHEAP[1])).label("long_cheap"),
                       _count(Claim.county_code != Institution.area_code).label("out_of_county"))
    return (with_scheme(summed, outer=True).where(*where)
            .group_by(Claim.institution_id, year, month_of(Claim.admission_date), Institution.area_code,
                      Institution.level))


def _items(where: list[Any]) -> sa.Select:
    """Per institution and month: the items billed, and those that are drugs, exams or tests."""
    exams = ClaimItem.category.in_([ItemCategory.EXAM, ItemCategory.LAB])
    return (sa.select(Claim.institution_id, *_month(Claim), sa.func.sum(ClaimItem.amount).label("items"),
                      sa.func.sum(sa.case((ClaimItem.category == ItemCategory.DRUG, ClaimItem.amount), else_=0))
                      .label("drugs"),
                      sa.func.sum(sa.case((exams, ClaimItem.amount), else_=0)).label("exams"))
            .select_from(ClaimItem).join(Claim, Claim.id == ClaimItem.claim_id)
            .join(Institution, Institution.id == Claim.institution_id)
            .where(*where).group_by(Claim.institution_id, year_of(Claim.admission_date),
                                    month_of(Claim.admission_date)))


def _readmissions(where: list[Any]) -> sa.Select:
    """Per institution and month: stays that began within READMISSION_DAYS of the same person's
    discharge from the same institution (the month of the readmission)."""
    before = sa.func.lag(Claim.discharge_date, type_=sa.Date).over(
        partition_by=(Claim.national_id, Claim.institution_id), order_by=(Claim.admission_date, Claim.id))
    stays = (sa.select(Claim.institution_id, *_month(Claim), Claim.admission_date, before.label("before"))
             .join(Institution, Institution.id == Claim.institution_id)
             .where(*where, Claim.kind == ClaimKind.INPATIENT).subquery("stays"))
    gap = days_between(stays.c.before, stays.c.admission_date)
    return (sa.select(stays.c.institution_id, stays.c.year, stays.c.month, sa.func.count().label("readmitted"))
            .where(gap.between(0, READMISSION_DAYS))
            .group_by(stays.c.institution_id, stays.c.year, stays.c.month))


def _diagnoses(where: list[Any]) -> sa.Select:
    """Per institution, month and main diagnosis: the claims (squared per window, summed)."""
    return (sa.select(Claim.institution_id, *_month(Claim), Claim.diagnosis_code.label("diagnosis"),
                      sa.func.count().label("n"))
            .join(Institution, Institution.id == Claim.institution_id).where(*where)
            .group_by(Claim.institution_id, year_of(Claim.admission_date), month_of(Claim.admission_date),
                      Claim.diagnosis_code))


def _areas(conn: sa.Connection) -> pl.DataFrame:
    """The members enrolled each year in each institution's area: a county hospital's county, a
    township centre's township (the township its name contains, as households name it); none
    for an institution whose area is not known (its admissions are then judged per visit)."""
    enrolled = conn.execute(
        sa.select(Enrolment.county_code, Household.township, Enrolment.year, sa.func.count())
        .join(Member, Member.id == Enrolment.member_id).outerjoin(Household, Household.id == Member.household_id)
        .group_by(Enrolment.county_code, Household.township, Enrolment.year)).all()
    institutions = conn.execute(sa.select(Institution.id, Institution.name, Institution.level, Institution.area_code)
                                .where(Institution.level.in_([InstitutionLevel.TOWNSHIP, InstitutionLevel.COUNTY])))
    towns: dict[str, set[str]] = {}
    for county, township, _, _ in enrolled:
        if township:
            towns.setdefault(county, set()).add(township)
    area: dict[int, tuple[str, str | None]] = {}
    for row in institutions:  # a few hundred institutions
        if row.level == InstitutionLevel.COUNTY:
            area[row.id] = (row.area_code, None)
            continue
        named = [town for town in towns.get(row.area_code, ()) if town in (row.name or "")]
        if named:
            area[row.id] = (row.area_code, max(named, key=len))
    members: dict[tuple[str, str | None, int], int] = {}
    for county, township, year, n in enrolled:
        for key in ((county, None, year), (county, township, year)):
            members[key] = members.get(key, 0) + n
    rows = [(inst, year, members[(county, town, year)]) for inst, (county, town) in area.items()
            for (c, t, year) in members if c == county and t == town]
    return pl.DataFrame(rows, schema={"institution_id": pl.Int64, "year": pl.Int64, "members": pl.Int64},
                        orient="row")


SUMS = ("cases", "stays", "stay_days", "total_amount", "compensated_amount", "visits", "under_cap", "out_of_county",
        "stay_amount", "visit_amount", "short_cheap", "long_cheap", "items", "drugs", "exams", "readmitted")


def windows(parts: list[pl.DataFrame], areas: pl.DataFrame) -> pl.DataFrame:
    """The months' sums of the queries summed per month, quarter and year to date (the year's
    months up to the last with claims), with the features of each window."""
    claims, items, readmissions, diagnoses = parts
    if claims.is_empty():
        return pl.DataFrame(schema={column.name: pl.String if column.name == "time_window" else pl.Float64
                                    for column in InstitutionMonth.__table__.columns
                                    if column.name not in ("id", "computed_at")})
    frame = claims
    for part in (items, readmissions):
        frame = frame.join(part, on=KEY, how="left") if not part.is_empty() else frame
    frame = frame.with_columns(*(pl.col(n) if n in frame.columns else pl.lit(0.0).alias(n) for n in SUMS))
    frame = frame.with_columns(pl.col(*SUMS).fill_null(0).cast(pl.Float64))
    last = frame.group_by("year").agg(pl.col("month").max().alias("last_month"))
    out = []
    for name, size in WINDOWS.items():
        first = ((pl.col("month") - 1) // size * size + 1).cast(pl.Int64)
        summed = (frame.with_columns(first=first).group_by("institution_id", "year", "first")
                  .agg(pl.col("county_code", "level").first(), *(pl.col(n).sum() for n in SUMS))
                  .join(last, on="year").rename({"first": "month"})
                  .with_columns(time_window=pl.lit(name),
                                months=(pl.min_horizontal(pl.col("month") + size - 1, "last_month")
                                        - pl.col("month") + 1).cast(pl.Int64)))
        squares = (diagnoses.with_columns(first=first).group_by("institution_id", "year", "first", "diagnosis")
                   .agg(pl.col("n").sum()).group_by("institution_id", "year", "first")
                   .agg((pl.col("n").cast(pl.Float64) ** 2).sum().alias("squares")).rename({"first": "month"})
                   if not diagnoses.is_empty() else None)
        summed = summed.join(squares, on=KEY, how="left") if squares is not None else summed.with_columns(
            squares=pl.lit(None, pl.Float64))
        out.append(_ratios(summed.join(areas, on=["institution_id", "year"], how="left"), size))
    return pl.concat(out, how="vertical_relaxed")


def _ratios(frame: pl.DataFrame, size: int) -> pl.DataFrame:
    """The features of one window's sums."""
    cases, stays = pl.col("cases"), pl.col("stays")

    def share(part: str, whole: pl.Expr, least: int = 1) -> pl.Expr:  # NULL over fewer than ``least``
        return pl.when(whole >= least).then(pl.col(part) / whole).otherwise(None)

    frame = frame.sort(KEY).with_columns(
        cost_per_case=pl.col("total_amount") / cases,
        cost_per_visit=share("visit_amount", pl.col("visits"), MIN_STAYS),
        cost_per_stay=share("stay_amount", stays, MIN_STAYS_FOR_SHARE),
        length_of_stay=share("stay_days", stays, MIN_STAYS_FOR_LENGTH),
        drug_share=share("drugs", pl.col("items")),
        exam_share=share("exams", pl.col("items")),
        readmission_rate=share("readmitted", stays, MIN_STAYS),
        under_cap_share=share("under_cap", pl.col("visits"), MIN_STAYS),
        compensation_ratio=share("compensated_amount", pl.col("total_amount")),
        out_of_county_share=pl.col("out_of_county") / cases,
        # Simpson's unbiased form: the plain sum of squared shares runs higher the fewer the claims
        diagnosis_concentration=pl.when(cases > 1).then((pl.col("squares") - cases) / (cases * (cases - 1)))
        .otherwise(None),
        short_cheap_share=share("short_cheap", stays, MIN_STAYS_FOR_SHARE),
        long_cheap_share=share("long_cheap", stays, MIN_STAYS_FOR_SHARE),
        cost_per_bed_day=pl.when((stays >= MIN_STAYS_FOR_SHARE) & (pl.col("stay_days") > 0))
        .then(pl.col("stay_amount") / pl.col("stay_days")).otherwise(None),
        # per 1,000 members and year: a quarter's stays count four times
        admissions_per_member=pl.when(pl.col("members") > 0)
        .then(stays * 1000 * 12 / pl.col("months") / pl.col("members")).otherwise(None),
        admissions_per_visit=share("stays", pl.col("visits"), MIN_STAYS),
        growth=_growth(size) if size == 1 else pl.lit(None, pl.Float64),  # a quarter on the last: the season
    )
    return frame.select(*KEY, "time_window", "months", "county_code", "level", "cases", "stays", "visits", "total_amount",
                        "compensated_amount", "cost_per_case", *FEATURES).with_columns(
        pl.col("cases", "stays", "visits").cast(pl.Int64))


def _growth(size: int) -> pl.Expr:
    """Claims per month against the institution's window before (NULL without one: its first,
    or one after a window without claims)."""
    index = pl.col("year") * 12 + pl.col("month")
    per_month = pl.col("cases") / pl.col("months")
    previous = per_month.shift(1).over("institution_id")
    follows = (index - index.shift(1).over("institution_id")) == size
    return pl.when(follows & (previous > 0)).then(per_month / previous - 1).otherwise(None)
