"""Features of each institution per month (domain.md §3): what the anomaly model compares an
institution with its peers on, stored in ``institution_month`` for the model and the UI; and
each member's year of care summed up in ``member_year``, for the UI.

Four set-based queries, each one pass over the claims (or the items) grouped by institution and
month of care; the features are then ratios of their sums, and growth the cases against the
month before, in a frame of a few thousand rows. Only the *intensive* features (per case, per
stay, shares) are scored: a big institution is not unusual for its size (``cases`` is kept and
shown, never scored).
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
from ncms.models import (Claim, ClaimItem, ClaimKind, County, Institution, InstitutionMonth, ItemCategory, MemberYear,
                         SchemeLevel)
from ncms.models.base import utcnow

from .catalogue import days_between, month_of, with_scheme, year_of

logger = logging.getLogger("ncms.monitor")

# the features the model scores, with what each is (docs/anomaly.md, the finding's explanation)
FEATURES: dict[str, str] = {
    "cost_per_case": "total cost per claim (次均费用)",
    "length_of_stay": "days per stay",
    "drug_share": "drugs' share of the items billed (药占比)",
    "exam_share": "exams' and laboratory tests' share of the items billed",
    "readmission_rate": "share of stays readmitted to the same institution within 15 days of a discharge",
    "under_cap_share": "share of outpatient visits paid within 5 % below the per-visit cap",
    "compensation_ratio": "compensation paid per yuan of total cost (实际补偿比)",
    "growth": "claims against the month before, as a growth rate",
    "out_of_county_share": "share of claims of members from other counties",
    "diagnosis_concentration": "how concentrated the main diagnoses are (sum of squared shares)",
}
READMISSION_DAYS = 15
UNDER_CAP = Decimal("0.95")  # a visit paid at 95-100 % of the cap is "just under" it
KEY = ["institution_id", "year", "month"]
# a rate over fewer stays (visits) is left out: one readmission of 13 stays is not a rate
# (it put a township 9.5 peer spreads above peers whose median was none)
MIN_STAYS = 20
MIN_STAYS_FOR_LENGTH = 5  # a mean length of stay steadies sooner
MONEY = ("total_amount", "compensated_amount")  # summed as floats here (exact to the cent at these sizes)


def compute_features(engine: Engine, period: tuple[date, date] | None = None) -> pl.DataFrame:
    """The features of every institution of the province's counties for the months of care in
    ``period`` (default: all), from all their claims (of patients of any county): one row per
    institution and month. Province-wide, whatever counties a run judges: they are its peers."""
    started = time.perf_counter()
    where = [Claim.voided.is_(False), Institution.area_code.in_(sa.select(County.code))]
    if period:
        where.append(Claim.admission_date.between(*period))
    with engine.connect() as conn:
        parts = [_frame(conn, query(where)) for query in (_claims, _items, _readmissions, _diagnoses)]
    frame = _features(parts)
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
    """Per institution and month: cases, stays and their days, money, visits just under the cap
    (the scheme's terms for the claim's county, year, kind and level, where it has them),
    patients from elsewhere."""
    inpatient = Claim.kind == ClaimKind.INPATIENT
    year = year_of(Claim.admission_date)
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
    """Per institution and month: the sum of the squared claim counts of each main diagnosis."""
    per = (sa.select(Claim.institution_id, *_month(Claim), sa.func.count().label("n"))
           .join(Institution, Institution.id == Claim.institution_id).where(*where)
           .group_by(Claim.institution_id, year_of(Claim.admission_date), month_of(Claim.admission_date),
                     Claim.diagnosis_code).subquery("diagnoses"))
    return (sa.select(per.c.institution_id, per.c.year, per.c.month, sa.func.sum(per.c.n * per.c.n).label("squares"))
            .group_by(per.c.institution_id, per.c.year, per.c.month))


def _features(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The sums of the four queries as one row per institution and month, with the features."""
    claims, items, readmissions, diagnoses = parts
    if claims.is_empty():
        return pl.DataFrame(schema={column.name: pl.Float64 for column in InstitutionMonth.__table__.columns
                                    if column.name not in ("id", "computed_at")})
    frame = claims
    for part in (items, readmissions, diagnoses):
        frame = frame.join(part, on=KEY, how="left") if not part.is_empty() else frame
    for name in ("items", "drugs", "exams", "readmitted", "squares"):
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(0.0).alias(name))
    frame = frame.with_columns(pl.col("items", "drugs", "exams", "readmitted", "squares").fill_null(0).cast(pl.Float64))
    cases, stays = pl.col("cases").cast(pl.Float64), pl.col("stays").cast(pl.Float64)

    def share(part: str, whole: pl.Expr, least: int = 1) -> pl.Expr:  # NULL over fewer than ``least``
        return pl.when(whole >= least).then(pl.col(part) / whole).otherwise(None)

    frame = frame.sort(KEY).with_columns(
        cost_per_case=pl.col("total_amount") / cases,
        length_of_stay=share("stay_days", stays, MIN_STAYS_FOR_LENGTH),
        drug_share=share("drugs", pl.col("items")),
        exam_share=share("exams", pl.col("items")),
        readmission_rate=share("readmitted", stays, MIN_STAYS),
        under_cap_share=share("under_cap", pl.col("visits").cast(pl.Float64), MIN_STAYS),
        compensation_ratio=share("compensated_amount", pl.col("total_amount")),
        out_of_county_share=pl.col("out_of_county") / cases,
        diagnosis_concentration=pl.col("squares") / (cases * cases),
        growth=_growth(),
    )
    return frame.select(*KEY, "county_code", "level", "cases", "stays", "total_amount", "compensated_amount",
                        *FEATURES).with_columns(pl.col("cases", "stays").cast(pl.Int64))


def _growth() -> pl.Expr:
    """Cases against the institution's month before (NULL without one: its first month, or a
    month after one without claims)."""
    index = pl.col("year") * 12 + pl.col("month")
    previous = pl.col("cases").shift(1).over("institution_id")
    follows = (index - index.shift(1).over("institution_id")) == 1
    return pl.when(follows & (previous > 0)).then(pl.col("cases") / previous - 1).otherwise(None)
