"""The catalogue of supervision rules (domain.md §3): each rule is one set-based query.

A rule's ``query(params, scope)`` builds one SQLAlchemy Core SELECT over the claims tables,
portable across SQLite and PostgreSQL, returning one row per hit with the columns the engine
files as a finding:

- ``subject_key`` — what the finding is about (``claim:<county>:<claim id>``), so a rerun
  updates the finding instead of raising a second one;
- ``county_code``, ``claim_id`` (the claim's row id, or NULL), ``institution_id`` (or NULL);
- ``amount`` — the money at stake, as the rule's text says;
- ``period_start``, ``period_end`` — the dates the hit is about;
- any ``ev_<name>`` column — evidence shown to the auditor (the engine keeps them by name).

A rule's ``version`` changes whenever its logic does; a finding records the version and the
parameter values that raised it.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal

from ncms.models import (CatalogueItem, Claim, ClaimItem, ClaimKind, CompensationScheme, Enrolment, FundFinancing,
                         Institution,
                         InstitutionLevel, ItemCategory, Member, Restriction, RestrictionKind, SchemeLevel, Severity)

OUT_OF_COUNTY = (InstitutionLevel.MUNICIPAL, InstitutionLevel.PROVINCIAL, InstitutionLevel.OUT_OF_PROVINCE)

CLAIM_KEY_PREFIX = "claim:"
# the bases rules share (Rule.basis)
FUND_YEARS, STAYS, ITEMS_OF_NOTE, LISTED_DIAGNOSES = "fund years", "stays", "items of note", "listed diagnoses"
SCHEME_TERMS, MEMBER_YEARS = "scheme terms", "member years"


@dataclass(frozen=True)
class Scope:
    """Which claims a run looks at: those of some counties (None: every county), optionally
    settled within a period. A rule runs once for all of them: one query, however many counties.

    Every county is no condition at all, not a list of every code: both databases would
    otherwise read the claims through the (county, claim id) index, row by row, instead of
    scanning the table (3-4 times slower at a million claims)."""

    counties: tuple[str, ...] | None
    period: tuple[date, date] | None = None
    persons: Any = None  # incremental runs: a SELECT of the national IDs to re-examine,
    claim_ids: Any = None  # and one of all their claims' ids

    def county(self, column: Any) -> list[sa.ColumnElement[bool]]:
        return [] if self.counties is None else [column.in_(self.counties)]

    def people(self, national_id: Any) -> list[sa.ColumnElement[bool]]:
        """Only the people an incremental run re-examines (on the register's side)."""
        return [] if self.persons is None else [national_id.in_(self.persons)]

    def theirs(self, claim_id: Any) -> list[sa.ColumnElement[bool]]:
        """Only the claims (by id) of the people an incremental run re-examines: all of them, so
        a rule pairing a claim with others of the same person sees every one."""
        return [] if self.claim_ids is None else [claim_id.in_(self.claim_ids)]

    def claims(self, claim: Any) -> list[sa.ColumnElement[bool]]:
        """The scope's conditions on a (possibly aliased) claim table."""
        conditions = [*self.county(claim.county_code), *self.theirs(claim.id), claim.voided.is_(False)]
        if self.period:
            conditions.append(claim.settlement_date.between(*self.period))
        return conditions

    def years(self, year: Any) -> list[sa.ColumnElement[bool]]:
        return [year.between(self.period[0].year, self.period[1].year)] if self.period else []


@dataclass(frozen=True)
class Rule:
    code: str
    version: str
    family: str
    title_zh: str
    title_en: str
    logic_en: str  # the plain-language logic, with {parameter} placeholders
    logic_zh: str
    at_stake: str  # what ``amount`` is, in English
    severity: Severity
    query: Callable[[dict[str, Any], Scope], sa.Select]
    params: dict[str, Any] = field(default_factory=dict)
    example: str = ""  # a hit and a near miss, in words (docs/rules.md)
    whole_county: bool = False  # judges a county's fund, not people: an incremental run re-reads the county
    basis: str = ""  # rules of one basis build on one aggregate, computed once when they run together
    source: str = ""  # where the thresholds come from (docs/rules.md)
    # the claims the rule reads but cannot judge, per county and reason: a SELECT of ``county_code``,
    # ``unchecked_reason``, ``unchecked_claims`` and ``amount`` (their compensation or items), run in
    # the rule's own statement (it may read the rule's basis); rules sharing one give the same object
    unchecked: Callable[[dict[str, Any], Scope], sa.Select] | None = None


def together(queries: dict[str, sa.Select]) -> sa.Select:
    """Rules' queries (by rule code) as one, each row with its ``rule_code``: rules of one basis
    share its CTE, which the database then computes once (a CTE read more than once is
    materialised by PostgreSQL and SQLite alike). A rule's query lacking another's evidence
    columns gives NULL for them, typed alike, so that values read the same as when run alone."""
    columns: dict[str, Any] = {}
    for query in queries.values():
        for column in query.selected_columns:
            columns.setdefault(column.key, column.type)
    parts = []
    for code, query in queries.items():
        own = query.subquery().c
        parts.append(sa.select(*(own[name] if name in own else _null(kind).label(name)
                                 for name, kind in columns.items()), sa.literal(code).label("rule_code")))
    return sa.union_all(*parts)


def _null(kind: Any) -> sa.ColumnElement[Any]:
    """A NULL of a type, cast as one where the type is known: PostgreSQL types the columns of a
    UNION pair by pair, and takes a column NULL in the first two parts for text, which a date
    in the third part then does not match."""
    if isinstance(kind, sa.types.NullType):
        return sa.null()
    return sa.cast(sa.null(), kind)


def claim_key(claim: Any) -> sa.ColumnElement[str]:
    return sa.literal(CLAIM_KEY_PREFIX) + claim.county_code + sa.literal(":") + claim.source_id


def _claim_columns(claim: Any, amount: Any | None = None) -> list[sa.ColumnElement[Any]]:
    """The columns every claim-level finding has. A query grouping a claim's items by the
    claim's id may select them as they are: they depend on the id (PostgreSQL knows it)."""
    return [claim_key(claim).label("subject_key"), claim.county_code.label("county_code"),
            claim.id.label("claim_id"), claim.institution_id.label("institution_id"),
            (claim.compensated_amount if amount is None else amount).label("amount"),
            claim.admission_date.label("period_start"),
            sa.func.coalesce(claim.discharge_date, claim.admission_date).label("period_end")]


def _claim_read(claim: Any) -> tuple[Any, ...]:
    """The claim columns ``_claim_columns`` reads: what a query grouping a CTE's rows by claim
    groups by (of a CTE's columns PostgreSQL knows no dependence on the id)."""
    return (claim.id, claim.county_code, claim.source_id, claim.institution_id, claim.compensated_amount,
            claim.admission_date, claim.discharge_date)


class days_between(sa.sql.expression.FunctionElement):  # noqa: N801 - SQL function style
    """Whole days from the first date to the second (``b - a``)."""

    type = sa.Integer()
    inherit_cache = True


@compiles(days_between)
def _days_between_default(element: Any, compiler: Any, **kw: Any) -> str:
    first, second = list(element.clauses)
    return f"({compiler.process(second, **kw)} - {compiler.process(first, **kw)})"


@compiles(days_between, "sqlite")
def _days_between_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    first, second = list(element.clauses)
    return f"CAST(julianday({compiler.process(second, **kw)}) - julianday({compiler.process(first, **kw)}) AS INTEGER)"


class _DatePart(sa.sql.expression.FunctionElement):
    """A part of a date as an integer: ``part`` for EXTRACT, ``chars`` (start, length) of the
    ISO text SQLite keeps dates as."""

    type = sa.Integer()
    inherit_cache = True
    part: str
    chars: tuple[int, int]


class year_of(_DatePart):  # noqa: N801 - SQL function style
    """The year of a date."""

    inherit_cache = True
    part, chars = "YEAR", (1, 4)


class month_of(_DatePart):  # noqa: N801 - SQL function style
    """The month of a date (1-12)."""

    inherit_cache = True
    part, chars = "MONTH", (6, 2)


@compiles(_DatePart)
def _date_part_default(element: Any, compiler: Any, **kw: Any) -> str:
    return f"CAST(EXTRACT({element.part} FROM {compiler.process(list(element.clauses)[0], **kw)}) AS INTEGER)"


# PostgreSQL's EXTRACT gives a numeric, date_part a double: 0.15 s against 0.21 s a million dates
@compiles(_DatePart, "postgresql")
def _date_part_postgresql(element: Any, compiler: Any, **kw: Any) -> str:
    return f"CAST(date_part('{element.part.lower()}', {compiler.process(list(element.clauses)[0], **kw)}) AS INTEGER)"


# cutting SQLite's ISO text is a third cheaper than strftime over a million rows
@compiles(_DatePart, "sqlite")
def _date_part_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    start, length = element.chars
    return f"CAST(substr({compiler.process(list(element.clauses)[0], **kw)}, {start}, {length}) AS INTEGER)"


class among(sa.sql.expression.ColumnElement[bool]):  # noqa: N801 - SQL function style
    """``column`` is among the few values a subquery returns: ``IN`` on SQLite; on PostgreSQL
    ``= ANY(ARRAY(…))``, which it plans as lookups of a handful of values. Given ``IN``,
    PostgreSQL guesses how many rows a join of the fact tables with the short reference lists yields
    from the codes' average frequency, a quarter of the items, not the 1 % that are listed,
    and hashes every claim to find them (0.9 s at a million claims, against 0.05 s)."""

    type = sa.Boolean()
    inherit_cache = True
    _is_implicitly_boolean = True  # a condition as it is, not compared with 1 where booleans are integers
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),  # its parts, for the statement
                           ("values", InternalTraversal.dp_clauseelement)]  # cache and for traversals

    def __init__(self, column: Any, values: sa.Select) -> None:
        self.column, self.values = column, values.scalar_subquery()


@compiles(among)
def _among_default(element: among, compiler: Any, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} IN {compiler.process(element.values, **kw)}"


@compiles(among, "postgresql")
def _among_postgresql(element: among, compiler: Any, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} = ANY(ARRAY{compiler.process(element.values, **kw)})"


def _members(claim: Any) -> tuple[Any, Any]:
    """A claim's member as a key to group or partition by: the member number first, since
    sorting compares keys in their order and the number tells most members apart at once
    (the county first, six equal characters each time: cap breach 1.2 s -> 0.9 s on SQLite)."""
    return claim.member_no, claim.county_code


def _member_of(claim: Any) -> Any:
    """The member a claim names (county + member number)."""
    return sa.and_(Member.county_code == claim.county_code, Member.member_no == claim.member_no)


def _age_at(day: Any, birth: Any) -> sa.ColumnElement[int]:
    """Whole years between ``birth`` and ``day``, in SQL both databases run."""
    years = sa.extract("year", day) - sa.extract("year", birth)
    month_day = lambda d: sa.extract("month", d) * 100 + sa.extract("day", d)  # noqa: E731
    return years - sa.case((month_day(day) < month_day(birth), 1), else_=0)


# --- the rules --------------------------------------------------------------------------------

def care_after_death(params: dict[str, Any], scope: Scope) -> sa.Select:
    c, dead = sa.orm.aliased(Claim, name="c"), sa.orm.aliased(Member, name="dead")
    return (sa.select(*_claim_columns(c), Member.death_date.label("ev_death_date"),
                      c.admission_date.label("ev_admission_date"))
            .join(Member, _member_of(c))
            .where(*scope.claims(c), Member.death_date.is_not(None), c.admission_date > Member.death_date,
                   # the claims of the dead alone, picked out against the few dead, not every claim's member
                   c.national_id.in_(sa.select(dead.national_id).where(dead.death_date.is_not(None),
                                                                       *scope.people(dead.national_id)))))


def _stay_key(claim: Any) -> sa.ColumnElement[str]:
    """``YYYY-MM-DD|claim id`` of a stay's discharge: the largest is the latest discharge, and
    says which claim it was (ISO dates compare as text on both databases)."""
    return sa.cast(claim.discharge_date, sa.String) + sa.literal("|") + claim.source_id


def _day(column: Any) -> sa.ColumnElement[str]:
    return sa.cast(column, sa.String)


def _county_claims(scope: Scope) -> list[sa.ColumnElement[bool]]:
    """The claims a member's history is read from: the whole county, not only the scope, since
    a claim in the scope may pair with one before it."""
    return [*scope.county(Claim.county_code), *scope.theirs(Claim.id), Claim.voided.is_(False)]


def _history(scope: Scope, *windows: Any, where: list[Any] | None = None, province: bool = False) -> Any:
    """The claims (of the scope's counties, or of the province) with ``windows`` computed over
    them, and every column a finding needs, as a SELECT the caller names (a subquery, or a CTE
    that rules share): the rule then reads this alone. Joining such a
    window back to the claims by id let PostgreSQL, before it had statistics, rescan the
    window for every claim (110 s for 20,000 claims)."""
    base = [*scope.theirs(Claim.id), Claim.voided.is_(False)] if province else _county_claims(scope)
    return (sa.select(Claim.id, Claim.county_code, Claim.source_id, Claim.institution_id, Claim.compensated_amount,
                      Claim.total_amount, Claim.admission_date, Claim.discharge_date, Claim.settlement_date,
                      Claim.voided, Claim.kind, Claim.diagnosis_code, *windows)
            .where(*base, *(where or [])))


@functools.lru_cache(maxsize=16)
def _stays(scope: Scope) -> Any:
    """The claims of the people with a stay, each with the latest stay admitted before it, as
    ``YYYY-MM-DD|claim id`` of its discharge: one pass per member over visits and stays in date
    order, a day's visits before its admissions. For a stay, the stays before it are those of
    the same order among stays alone. And each with the claim of the same kind before it at the
    same institution (for a stay, the stay before it there). Every rule reading stays reads
    this (the basis "stays": overlapping, split, ghost, low-standard stays, outpatient visits
    during one), so that, run together, they read the claims once, not three times (a scan of
    a million claims: 0.35 s on PostgreSQL). One CTE per scope, the same object for every rule
    of the basis."""
    inpatient = Claim.kind == ClaimKind.INPATIENT
    latest = sa.func.max(sa.case((inpatient, _stay_key(Claim)))).over(
        partition_by=_members(Claim),
        order_by=(Claim.admission_date, sa.case((inpatient, 1), else_=0), Claim.id), rows=(None, -1))
    at_institution = dict(partition_by=(*_members(Claim), Claim.institution_id, Claim.kind),
                          order_by=(Claim.admission_date, Claim.id))
    # only members with a stay (the windows' partitions holding one; no other can hold a hit):
    # their claims looked up by the member index, not each claim looked up among them (SQLite, a
    # million claims, the basis's query alone, in turns: 1.73-1.80 -> 1.50-1.54 s)
    stayed = sa.select(*_members(Claim)).where(inpatient, *scope.theirs(Claim.id))
    return _history(scope, latest.label("stay"),
                    sa.func.lag(Claim.discharge_date, type_=sa.Date).over(**at_institution).label("previous_discharge"),
                    sa.func.lag(Claim.source_id, type_=sa.String).over(**at_institution).label("previous_claim"),
                    # and what tells a copy of that claim (overlapping stays): from the same sort
                    sa.func.lag(Claim.admission_date, type_=sa.Date).over(**at_institution).label("previous_admission"),
                    sa.func.lag(Claim.settlement_date, type_=sa.Date).over(**at_institution)
                    .label("previous_settlement"),
                    sa.func.lag(Claim.total_amount, type_=Claim.total_amount.type).over(**at_institution)
                    .label("previous_total"),
                    where=[sa.tuple_(*_members(Claim)).in_(stayed)]).cte("stays")


def _inpatient(scope: Scope) -> tuple[Any, sa.ColumnElement[int], list[sa.ColumnElement[bool]]]:
    """The stays of the scope (of the basis "stays"): its columns, each stay's length in days,
    and the conditions that pick the scope's stays out of it."""
    h = _stays(scope).c
    return h, days_between(h.admission_date, h.discharge_date), [*scope.claims(h), h.kind == ClaimKind.INPATIENT]


def overlapping_stays(params: dict[str, Any], scope: Scope) -> sa.Select:
    h = _stays(scope).c
    # a copy of the stay before it at the same institution (the same dates, a total as
    # duplicate_claim allows, of the claim settled second) is a duplicate claim, not a second
    # stay: that rule's to report. Told from the window the stays are read with, not by looking
    # the other claim up (which a planner may do by hashing every claim)
    later = sa.or_(h.settlement_date > h.previous_settlement,
                   sa.and_(h.settlement_date == h.previous_settlement, h.source_id > h.previous_claim))
    copy = sa.and_(h.previous_claim.is_not(None), h.previous_admission == h.admission_date,
                   h.previous_discharge == h.discharge_date,
                   sa.func.abs(h.total_amount - h.previous_total)
                   <= _amount(params["amount_tolerance"]) * sa.case((later, h.total_amount), else_=h.previous_total))
    return (sa.select(*_claim_columns(h), sa.func.substr(h.stay, 12).label("ev_other_claim"),
                      sa.func.substr(h.stay, 1, 10).label("ev_other_discharge"))
            # a day of transfer (discharge = next admission) is no overlap
            .where(*scope.claims(h), h.kind == ClaimKind.INPATIENT,
                   _day(h.admission_date) < sa.func.substr(h.stay, 1, 10), ~copy))


def split_admission(params: dict[str, Any], scope: Scope) -> sa.Select:
    h, _, stays = _inpatient(scope)
    gap = days_between(h.previous_discharge, h.admission_date)
    excluded = [h.diagnosis_code.like(f"{prefix}%") for prefix in params["excluded_diagnoses"]]
    return (sa.select(*_claim_columns(h), h.previous_claim.label("ev_previous_claim"),
                      h.previous_discharge.label("ev_previous_discharge"), gap.label("ev_days_between"))
            .where(*stays, gap >= 0, gap <= params["readmission_days"], *([~sa.or_(*excluded)] if excluded else [])))


def outpatient_during_stay(params: dict[str, Any], scope: Scope) -> sa.Select:
    h = _stays(scope).c
    return (sa.select(*_claim_columns(h), sa.func.substr(h.stay, 12).label("ev_stay_claim"),
                      sa.func.substr(h.stay, 1, 10).label("ev_stay_discharge"))
            # strictly inside: a visit on the day of admission or discharge is usual care
            .where(*scope.claims(h), h.kind == ClaimKind.OUTPATIENT,
                   _day(h.admission_date) < sa.func.substr(h.stay, 1, 10)))


def _found_twice(entity: Any, keys: tuple[str, ...], where: list[Any], name: str) -> sa.Select:
    """SELECT of the ids of the rows of ``entity`` (among those meeting ``where``) that share the
    values of ``keys`` with another row. The grouping that finds them names them too, by the
    first and last id of each group; only the rows of a group of three or more are looked for
    again, and the table is read again only when there is such a group: a condition on no row,
    which both databases test once, before the join (when there is none, PostgreSQL's join
    ended on its empty hash anyway, but SQLite read the table again, looking each row up among
    the groups: a million claims, 1.48-1.64 -> 1.34-1.44 s). The rows are then looked up by id."""
    columns = [getattr(entity, key) for key in keys]
    groups = (sa.select(*columns, sa.func.min(entity.id).label("lo"), sa.func.max(entity.id).label("hi"),
                        sa.func.count().label("n"))
              .where(*where).group_by(*columns).having(sa.func.count() > 1).cte(name))
    more, others = groups.alias(f"{name}_more"), sa.orm.aliased(entity, name=f"{name}_others")
    any_more = sa.select(sa.func.max(groups.c.n)).scalar_subquery() > 2
    rows = sa.union_all(
        sa.select(groups.c.lo.label("id")), sa.select(groups.c.hi),
        sa.select(others.id).select_from(more)
        .join(others, sa.and_(*(getattr(others, key) == more.c[key] for key in keys))).where(any_more, more.c.n > 2))
    return sa.select(rows.subquery().c.id)


def duplicate_claim(params: dict[str, Any], scope: Scope) -> sa.Select:
    # over the province: the same person (national ID), institution, kind and dates; the claim
    # settled second (across counties too) is the duplicate. Only people with two claims on one
    # day can have one: found first, so the window sorts their claims, not the province's
    window = dict(partition_by=(Claim.national_id, Claim.institution_id, Claim.kind, Claim.admission_date,
                                sa.func.coalesce(Claim.discharge_date, Claim.admission_date)),
                  order_by=(Claim.settlement_date, Claim.county_code, Claim.source_id))
    twice = _found_twice(Claim, ("national_id", "admission_date"), scope.theirs(Claim.id), "twice")
    h = _history(scope, sa.func.lag(Claim.total_amount).over(**window).label("first_total"),
                 sa.func.lag(Claim.county_code + sa.literal(":") + Claim.source_id).over(**window).label("first"),
                 where=[among(Claim.id, twice)], province=True).subquery("history").c
    return (sa.select(*_claim_columns(h), h.first.label("ev_first_claim"), h.first_total.label("ev_first_total"))
            .where(*scope.claims(h), h.first.is_not(None),
                   sa.func.abs(h.total_amount - h.first_total) <= _amount(params["amount_tolerance"]) * h.total_amount))


def duplicate_enrolment(params: dict[str, Any], scope: Scope) -> sa.Select:
    # one person (national ID) enrolled twice in a year: the enrolment in the county of the ID's
    # area code, else the earliest, is the person's own; the others are duplicates. A member is
    # enrolled once a year, so only national IDs registered twice can be: found first, unless an
    # incremental run's few people bound the window already (then it would read the register twice)
    registered_twice = [among(Member.id, _found_twice(Member, ("national_id",), [], "registered_twice"))] \
        if scope.persons is None else []
    home = sa.case((Member.county_code == sa.func.substr(Member.national_id, 1, 6), 0), else_=1)
    window = dict(partition_by=(Member.national_id, Enrolment.year))
    # the columns a finding needs read in the same pass: joined back by id, PostgreSQL, taking
    # the doubly registered for a third of the register, read the enrolments and members again
    e = (sa.select(Member.county_code, Member.member_no, Member.national_id, Enrolment.year,
                   sa.func.row_number().over(**window, order_by=(home, Enrolment.enrolled_on, Enrolment.id))
                   .label("rank"),
                   sa.func.first_value(Member.county_code + sa.literal(":") + Member.member_no).over(
                       **window, order_by=(home, Enrolment.enrolled_on, Enrolment.id)).label("own"))
         .join(Member, Member.id == Enrolment.member_id)
         .where(*scope.people(Member.national_id), *registered_twice)
         .subquery("enrolments")).c
    year = sa.cast(e.year, sa.String)
    return (sa.select((sa.literal("enrolment:") + e.county_code + sa.literal(":") + e.member_no
                       + sa.literal(":") + year).label("subject_key"),
                      e.county_code.label("county_code"), sa.null().label("claim_id"),
                      sa.null().label("institution_id"), sa.literal(params["subsidy"]).label("amount"),
                      sa.func.date(year + sa.literal("-01-01")).label("period_start"),
                      sa.func.date(year + sa.literal("-12-31")).label("period_end"),
                      e.own.label("ev_enrolled_as"), e.year.label("ev_year"))
            .where(*scope.county(e.county_code), e.rank > 1, *scope.years(e.year)))


def _amount(value: Any) -> Any:
    """A parameter as an exact SQL number (YAML gives floats; money is never a float)."""
    return sa.literal(Decimal(str(value)), sa.Numeric(18, 6))


class _Extreme(sa.sql.expression.FunctionElement):
    """The larger or smaller of values, none NULL, each computed once (a CASE comparing two
    expressions computes the one it picks twice): GREATEST and LEAST on PostgreSQL, the
    scalar max and min of SQLite."""

    inherit_cache = True
    names: tuple[str, str]  # (SQL standard, SQLite)

    def __init__(self, *values: Any) -> None:
        super().__init__(*values)
        # the type of the first value that has one (money stays money, read as Decimal)
        self.type = next((v.type for v in self.clauses if not isinstance(v.type, sa.types.NullType)),
                         sa.types.NULLTYPE)


class larger(_Extreme):  # noqa: N801 - SQL function style
    inherit_cache = True
    names = ("GREATEST", "max")


class smaller(_Extreme):  # noqa: N801 - SQL function style
    inherit_cache = True
    names = ("LEAST", "min")


@compiles(_Extreme)
def _extreme_default(element: Any, compiler: Any, **kw: Any) -> str:
    return f"{element.names[0]}({compiler.process(element.clause_expr.element, **kw)})"


@compiles(_Extreme, "sqlite")
def _extreme_sqlite(element: Any, compiler: Any, **kw: Any) -> str:
    return f"{element.names[1]}({compiler.process(element.clause_expr.element, **kw)})"


def with_scheme(query: sa.Select, outer: bool = False) -> sa.Select:
    """``query`` over Claim joined to its institution and to the terms of its county's scheme for
    the year of care: the deductible, ratio and per-visit cap of its kind and level (no self-join:
    PostgreSQL, misjudging the rows of the scheme join, looped an index scan of the claims per
    claim). ``outer``: a claim without terms is kept, with NULL terms."""
    query = query.join(Institution, Institution.id == Claim.institution_id)
    join = query.outerjoin if outer else query.join
    query = join(CompensationScheme, sa.and_(CompensationScheme.county_code == Claim.county_code,
                                             CompensationScheme.year == year_of(Claim.admission_date)))
    join = query.outerjoin if outer else query.join
    return join(SchemeLevel, sa.and_(SchemeLevel.scheme_id == CompensationScheme.id, SchemeLevel.kind == Claim.kind,
                                     SchemeLevel.level == Institution.level))


# a claim the scheme rules cannot judge, and why (rule_run.unchecked_reasons)
NO_SCHEME = "no scheme for the county and year"
NO_TERMS = "no scheme terms for the kind of care at the level"
NO_PRICE = "an item not in the price catalogue"


@functools.lru_cache(maxsize=1)
def _scheme_terms() -> Any:
    """Every scheme's terms as an institution meets them: per institution, county, year and kind
    of care, the terms of the institution's level (a few thousand rows). A claim meets its terms
    in one lookup by its own columns, not three (its institution, then the scheme, then the
    level's terms: a million claims, 0.75-0.81 -> 0.56-0.57 s on SQLite)."""
    return (sa.select(Institution.id.label("institution_id"), Institution.level, CompensationScheme.county_code,
                      CompensationScheme.year, CompensationScheme.referral_required, SchemeLevel.kind,
                      SchemeLevel.id.label("terms_id"), SchemeLevel.deductible, SchemeLevel.ratio,
                      SchemeLevel.per_visit_cap, SchemeLevel.unreferred_ratio_cut)
            .join(SchemeLevel, SchemeLevel.level == Institution.level)
            .join(CompensationScheme, CompensationScheme.id == SchemeLevel.scheme_id)
            .subquery("scheme_terms"))


def _unjudged(terms: Any) -> sa.ColumnElement[str]:
    """Why a claim without terms (``terms`` NULL) has none, looked up for those few alone."""
    schemed = sa.exists().where(CompensationScheme.county_code == Claim.county_code,
                                CompensationScheme.year == year_of(Claim.admission_date))
    return sa.case((terms.terms_id.is_(None), sa.case((schemed, sa.literal(NO_TERMS)), else_=sa.literal(NO_SCHEME))))


def _referral_cut(terms: Any) -> Any:
    """The ratio points a missing referral takes off, where the scheme requires one: the level's own cut."""
    return sa.case((sa.and_(*_unreferred_terms(terms)), terms.unreferred_ratio_cut), else_=0)


NO_CAP = sa.literal(Decimal("1e12"), sa.Numeric(18, 2))  # a level without a per-visit cap: none is reached


def _due(ratio: Any, terms: Any) -> Any:
    """What the scheme pays for the claim alone at ``ratio``, before the annual cap (of ``Claim``
    joined to ``terms``: ``_scheme_terms``)."""
    due = sa.func.round(larger(Claim.eligible_amount - terms.deductible, 0) * larger(ratio, 0), 2)
    return smaller(due, sa.func.coalesce(terms.per_visit_cap, NO_CAP))




UNDER_HALF_A_CENT = sa.literal(Decimal("0.004"), sa.Numeric(18, 6))


def _may_pay_above(ratio: Any, terms: Any) -> sa.ColumnElement[bool]:
    """A test in plain arithmetic that every claim paid more than ``_due(ratio)`` passes: paid in
    cents, it is at least a cent above the rounded share, so more than half a cent above the share
    unrounded (a share below zero, eligible under the deductible, is below any payment), unless a
    ratio below zero (a cut larger than the ratio) makes it nothing, or the cap cuts it. Tested
    first, it spares almost every claim the rounding, the larger and the smaller (a million claims,
    the basis's query from Python, four runs each: 1.9-2.4 -> 1.3-1.9 s on SQLite; PostgreSQL,
    busy hashing the scheme's tables, unchanged)."""
    paid, share = Claim.compensated_amount, (Claim.eligible_amount - terms.deductible) * ratio
    return sa.and_(paid > UNDER_HALF_A_CENT,
                   sa.or_(paid > share + UNDER_HALF_A_CENT, ratio < 0, paid > terms.per_visit_cap))


def _unreferred_terms(terms: Any) -> list[sa.ColumnElement[bool]]:
    """A stay the scheme pays at its ratio less the cut: unreferred, at a level whose terms cut the
    ratio without a referral (by default those out of the county), where the scheme requires one."""
    return [Claim.referral.is_(False), terms.unreferred_ratio_cut > 0, terms.referral_required]


@functools.lru_cache(maxsize=16)
def _paid_above_terms(scope: Scope) -> Any:
    """The claims paid more than their county's scheme of the year gives them: more than it gives
    at the full ratio, or, where a missing referral cuts the ratio, more than it gives at the cut
    one. Each with what it pays at either ratio. Both rules of the basis "scheme terms" hit only
    such claims (at a tolerance of zero or more), so the scheme's terms are joined to every claim
    once, not once per rule; one CTE per scope, the same object for both. And the claims with no
    terms at all (``unjudged`` says why): no rule of the basis can judge them, and
    ``scheme_terms_missing`` reports them, in the same pass. A claim whose institution is not on
    the register is no claim of the basis (its level, looked up for a claim without terms alone,
    is NULL)."""
    terms = _scheme_terms()
    t = terms.c
    full, cut = _due(t.ratio, t), _due(t.ratio - _referral_cut(t), t)
    level = sa.func.coalesce(t.level, sa.select(Institution.level).where(Institution.id == Claim.institution_id)
                             .scalar_subquery())
    return (sa.select(Claim.id, Claim.county_code, Claim.source_id, Claim.institution_id, Claim.compensated_amount,
                      Claim.admission_date, Claim.discharge_date, Claim.kind, level.label("level"), t.deductible,
                      t.ratio, _referral_cut(t).label("ratio_cut"), full.label("full_pays"), cut.label("cut_pays"),
                      sa.and_(*_unreferred_terms(t)).label("cut_applies"), _unjudged(t).label("unjudged"))
            .select_from(Claim).outerjoin(terms, sa.and_(t.institution_id == Claim.institution_id, t.county_code == Claim.county_code,
                                  t.year == year_of(Claim.admission_date), t.kind == Claim.kind))
            .where(*scope.claims(Claim), sa.or_(
                sa.and_(t.terms_id.is_(None), level.is_not(None)),
                sa.and_(_may_pay_above(t.ratio, t), Claim.compensated_amount > full),
                # the cut's conditions spelled out: a planner sees how few pass
                sa.and_(*_unreferred_terms(t), _may_pay_above(t.ratio - t.unreferred_ratio_cut, t),
                        Claim.compensated_amount > cut)))
            .cte("paid_above_terms"))


@functools.lru_cache(maxsize=16)
def _without_terms(scope: Scope) -> sa.Select:
    """The claims of the basis "scheme terms" that no scheme terms judge, per county and reason."""
    h = _paid_above_terms(scope).c
    return (sa.select(h.county_code, h.unjudged.label("unchecked_reason"), sa.func.count().label("unchecked_claims"),
                      sa.func.sum(h.compensated_amount).label("amount"))
            .where(h.unjudged.is_not(None)).group_by(h.county_code, h.unjudged))


def _scheme_gaps(params: dict[str, Any], scope: Scope) -> sa.Select:
    return _without_terms(scope)


def scheme_terms_missing(params: dict[str, Any], scope: Scope) -> sa.Select:
    h = _paid_above_terms(scope).c
    year = year_of(h.admission_date)
    year_text = sa.cast(year, sa.String)
    kind, level = sa.cast(h.kind, sa.String), sa.cast(h.level, sa.String)
    key = (sa.literal("scheme:") + h.county_code + sa.literal(":") + year_text + sa.literal(":") + kind
           + sa.literal(":") + level)
    # typed NULLs: this query runs in one UNION with the claim rules of its basis (PostgreSQL takes an
    # untyped NULL for text)
    return (sa.select(key.label("subject_key"), h.county_code.label("county_code"),
                      sa.cast(sa.null(), sa.Integer).label("claim_id"), sa.cast(sa.null(), sa.Integer).label("institution_id"),
                      sa.func.sum(h.compensated_amount).label("amount"),
                      sa.func.date(year_text + sa.literal("-01-01")).label("period_start"),
                      sa.func.date(year_text + sa.literal("-12-31")).label("period_end"),
                      kind.label("ev_kind"), level.label("ev_level"), h.unjudged.label("ev_reason"),
                      sa.func.count().label("ev_claims"))
            .where(h.unjudged.is_not(None))
            .group_by(h.county_code, year, h.kind, h.level, h.unjudged))


def overpayment(params: dict[str, Any], scope: Scope) -> sa.Select:
    h = _paid_above_terms(scope).c  # as if referred: a missing referral is its own rule
    return (sa.select(*_claim_columns(h, h.compensated_amount - h.full_pays), h.full_pays.label("ev_scheme_pays"),
                      h.compensated_amount.label("ev_paid"), h.deductible.label("ev_deductible"),
                      h.ratio.label("ev_ratio"))
            # a claim without terms is the basis's unchecked, not a hit: PostgreSQL's GREATEST and LEAST
            # pass over NULL terms, and would make nothing due
            .where(h.unjudged.is_(None), h.compensated_amount > h.full_pays + _amount(params["tolerance"])))


def missing_referral(params: dict[str, Any], scope: Scope) -> sa.Select:
    h = _paid_above_terms(scope).c
    return (sa.select(*_claim_columns(h, h.compensated_amount - h.cut_pays), h.cut_pays.label("ev_scheme_pays"),
                      h.compensated_amount.label("ev_paid"), h.level.label("ev_level"),
                      h.ratio_cut.label("ev_ratio_cut"))
            .where(h.unjudged.is_(None), h.cut_applies, h.compensated_amount > h.cut_pays + _amount(params["tolerance"])))


@functools.lru_cache(maxsize=16)
def _member_years(scope: Scope) -> Any:
    """A member's year, summed first: all compensation and the outpatient part of it, and whether
    the member is enrolled that year (the basis "member years": cap breach and not enrolled). Only
    sums above the lowest cap of any scheme (over all care, or over outpatient care) meet the
    schemes, and the years of a county with no scheme, which no cap judges (``schemed`` false),
    and the years with no enrolment, whose every claim is a hit. A tolerance is zero or more, so
    every hit is among these whatever its tolerance; one CTE per scope, the same object for the
    rules and their unchecked claims. The finding is about the year: its first and last day, not
    the first and last claim's, which SQLite would carry through the sort of a million claims
    (1.15 -> 0.87 s). The enrolment is looked up once a member's year, not once a claim (SQLite,
    a million claims, both rules in turns: 1.56 s apart -> 1.33 s as one)."""
    year = year_of(Claim.admission_date)
    paid = sa.func.sum(Claim.compensated_amount)
    # the outpatient part as all less the stays, summed over the few stays alone (a CASE summed over
    # every claim cost PostgreSQL a fifth more: 200,000 claims, medians of five beside other work,
    # 0.46 s this way, 0.56-0.59 s with a CASE, 0.49-0.55 s with no outpatient part at all)
    inpatient = sa.func.sum(Claim.compensated_amount).filter(Claim.kind == ClaimKind.INPATIENT)
    outpatient = paid - sa.func.coalesce(inpatient, 0)
    lowest = sa.select(sa.func.min(CompensationScheme.annual_cap)).scalar_subquery()
    lowest_outpatient = sa.select(sa.func.min(CompensationScheme.outpatient_annual_cap)).scalar_subquery()
    schemed = sa.tuple_(Claim.county_code, year).in_(sa.select(CompensationScheme.county_code,
                                                                CompensationScheme.year))
    years = (sa.select(Claim.county_code, Claim.member_no, year.label("year"), paid.label("paid"),
                       outpatient.label("outpatient_paid"), sa.func.count().label("claims"), schemed.label("schemed"))
             .where(*scope.claims(Claim))
             # the year first: grouped by the member first, SQLite read the claims in the order of the
             # member index (ix_claim_member), a million rows each looked up, to sort the rest
             .group_by(year, *_members(Claim)).subquery("years")).c
    # by the member number and county the claims name, as the claims are grouped (not through the
    # member's id: one lookup, not two); joined, not an EXISTS, which PostgreSQL ran as a lookup a
    # group instead of hashing the enrolments
    enrolled = Enrolment.id.is_not(None)
    return (sa.select(years.county_code, years.member_no, years.year, years.paid, years.outpatient_paid, years.claims,
                      years.schemed, enrolled.label("enrolled"))
            .outerjoin(Enrolment, sa.and_(Enrolment.member_no == years.member_no,
                                          Enrolment.county_code == years.county_code, Enrolment.year == years.year))
            .where(sa.or_(years.paid > lowest, years.outpatient_paid > lowest_outpatient, ~years.schemed, ~enrolled))
            .cte("member_years"))


def _uncapped(params: dict[str, Any], scope: Scope) -> sa.Select:
    """The claims of the years of a county with no scheme: no annual cap judges them."""
    m = _member_years(scope).c
    return (sa.select(m.county_code, sa.literal(NO_SCHEME).label("unchecked_reason"),
                      sa.func.sum(m.claims).label("unchecked_claims"), sa.func.sum(m.paid).label("amount"))
            .where(~m.schemed).group_by(m.county_code))


def cap_breach(params: dict[str, Any], scope: Scope) -> sa.Select:
    m = _member_years(scope).c
    tolerance = _amount(params["tolerance"])
    # the outpatient cap's excess first, then what the rest of the year pays above the annual cap
    outpatient_over = sa.case((m.outpatient_paid > CompensationScheme.outpatient_annual_cap,
                               m.outpatient_paid - CompensationScheme.outpatient_annual_cap), else_=0)
    over = outpatient_over + larger(m.paid - outpatient_over - CompensationScheme.annual_cap, 0)
    year_text = sa.cast(m.year, sa.String)
    key = sa.literal("member:") + m.county_code + sa.literal(":") + m.member_no + sa.literal(":") + year_text
    # typed NULLs: this query runs in one UNION with not_enrolled's claims (PostgreSQL takes an untyped
    # NULL for text)
    return (sa.select(key.label("subject_key"), m.county_code.label("county_code"),
                      sa.cast(sa.null(), sa.Integer).label("claim_id"), sa.cast(sa.null(), sa.Integer).label("institution_id"),
                      over.label("amount"),
                      sa.func.date(year_text + sa.literal("-01-01")).label("period_start"),
                      sa.func.date(year_text + sa.literal("-12-31")).label("period_end"), m.paid.label("ev_paid_in_year"),
                      CompensationScheme.annual_cap.label("ev_annual_cap"), m.claims.label("ev_claims"),
                      m.outpatient_paid.label("ev_outpatient_paid"),
                      CompensationScheme.outpatient_annual_cap.label("ev_outpatient_annual_cap"))
            .join(CompensationScheme, sa.and_(CompensationScheme.county_code == m.county_code,
                                              CompensationScheme.year == m.year))
            .where(sa.or_(m.paid > CompensationScheme.annual_cap + tolerance,
                          m.outpatient_paid > CompensationScheme.outpatient_annual_cap + tolerance)))


@functools.lru_cache(maxsize=16)
def _items_of_note(scope: Scope) -> Any:
    """The scope's claim items billed above their catalogue price at all, of a code on the
    restriction list, or for bed days: what the rules of the basis "items of note" (over-standard
    price, excess quantity, the sex and age restrictions of items) read, found in one scan of the
    items (a scan of 2.4 million items: 0.45 s on PostgreSQL), each rule then picking its few
    out. Above the price at all, not above a rule's ceiling: a tolerance is zero or more
    (settings refuse less), so the rule's items are among these whatever its tolerance. And the
    items of a code the catalogue lacks (``price`` NULL), which no price judges. One CTE per scope,
    the same object for every rule."""
    is_item = Restriction.kind == RestrictionKind.ITEM
    # each catalogue code with its price and whether it is listed: an item meets its code once, not
    # the catalogue and then the list (2.4 million items, the basis's four rules run by the engine,
    # medians of four alternating runs: 2.76 -> 2.38 s on SQLite); the list is looked up only for
    # a code the catalogue lacks
    codes = (sa.select(CatalogueItem.code, CatalogueItem.price, Restriction.id.is_not(None).label("listed"))
             .outerjoin(Restriction, sa.and_(is_item, Restriction.code == CatalogueItem.code))
             .cte("codes").prefix_with("MATERIALIZED"))
    return (sa.select(ClaimItem.claim_id, ClaimItem.item_code, ClaimItem.category, ClaimItem.unit_price,
                      ClaimItem.quantity, ClaimItem.amount, codes.c.price)
            .outerjoin(codes, codes.c.code == ClaimItem.item_code)
            # a code the catalogue lacks: over-standard price cannot judge it (its unchecked items),
            # the item restrictions still can, by its code
            .where(sa.or_(ClaimItem.category == ItemCategory.BED, codes.c.listed,
                          ClaimItem.unit_price > codes.c.price, codes.c.code.is_(None)),
                   *scope.theirs(ClaimItem.claim_id))
            .cte("items_of_note").prefix_with("MATERIALIZED"))


@functools.lru_cache(maxsize=16)
def _unpriced(scope: Scope) -> sa.Select:
    """The claims with an item the price catalogue lacks, per county: over-standard price cannot
    judge them (their unknown items' amounts as ``amount``)."""
    noted, c = _items_of_note(scope), sa.orm.aliased(Claim, name="c")
    items = (sa.select(noted.c.claim_id, sa.func.sum(noted.c.amount).label("billed"))
             .where(noted.c.price.is_(None)).group_by(noted.c.claim_id).subquery("unpriced"))
    return (sa.select(c.county_code, sa.literal(NO_PRICE).label("unchecked_reason"),
                      sa.func.count().label("unchecked_claims"), sa.func.sum(items.c.billed).label("amount"))
            .select_from(items).join(c, c.id == items.c.claim_id).where(*scope.claims(c)).group_by(c.county_code))


def over_standard_price(params: dict[str, Any], scope: Scope) -> sa.Select:
    c = sa.orm.aliased(Claim, name="c")
    noted = _items_of_note(scope)
    # the items above the ceiling first, then their few claims looked up (joined at once, PostgreSQL
    # guessed a third of the items over the price and walked every claim to meet them)
    over = (sa.select(noted.c.claim_id, noted.c.item_code, noted.c.unit_price, noted.c.quantity, noted.c.price)
            .where(noted.c.unit_price > noted.c.price * _amount(1 + Decimal(str(params["tolerance"]))))
            .subquery("over_priced"))
    excess = sa.func.sum((over.c.unit_price - over.c.price) * over.c.quantity)
    return (sa.select(*_claim_columns(c, excess), sa.func.min(over.c.item_code).label("ev_code"),
                      sa.func.max(over.c.unit_price).label("ev_price"), sa.func.max(over.c.price).label("ev_ceiling"))
            .select_from(over).join(c, c.id == over.c.claim_id)
            .where(*scope.claims(c), among(c.id, sa.select(over.c.claim_id)))
            .group_by(c.id))


def ghost_stay(params: dict[str, Any], scope: Scope) -> sa.Select:
    h, length, stays = _inpatient(scope)
    return (sa.select(*_claim_columns(h), length.label("ev_length_of_stay"),
                      sa.func.round(h.total_amount / length, 2, type_=sa.Numeric(14, 2)).label("ev_cost_per_day"))
            .where(*stays, length >= params["min_days"], h.total_amount < length * _amount(params["max_cost_per_day"])))


def low_standard_admission(params: dict[str, Any], scope: Scope) -> sa.Select:
    h, length, stays = _inpatient(scope)
    return (sa.select(*_claim_columns(h), h.diagnosis_code.label("ev_diagnosis"), length.label("ev_length_of_stay"))
            .where(*stays, h.diagnosis_code.in_(params["diagnoses"]), length <= params["max_days"],
                   h.total_amount <= _amount(params["max_total"])))


def excess_quantity(params: dict[str, Any], scope: Scope) -> sa.Select:
    noted, c = _items_of_note(scope), sa.orm.aliased(Claim, name="c")
    # each stay's bed days first, then the stays looked up by id
    beds = (sa.select(noted.c.claim_id, sa.func.sum(noted.c.quantity).label("days"),
                      sa.func.sum(noted.c.amount).label("billed"))
            .where(noted.c.category == ItemCategory.BED).group_by(noted.c.claim_id).subquery("bed_days"))
    length = days_between(c.admission_date, c.discharge_date)
    return (sa.select(*_claim_columns(c, beds.c.billed * (beds.c.days - length) / beds.c.days),
                      beds.c.days.label("ev_bed_days"), length.label("ev_length_of_stay"))
            .select_from(beds).join(c, c.id == beds.c.claim_id)
            .where(*scope.claims(c), c.kind == ClaimKind.INPATIENT, beds.c.days > length + params["extra_bed_days"],
                   among(c.id, sa.select(noted.c.claim_id).where(noted.c.category == ItemCategory.BED))))


@functools.lru_cache(maxsize=16)
def _fund_years(scope: Scope) -> Any:
    """Per county fund and year: financing raised, compensation paid (by settlement date),
    the months the year's claims reach (the run rate's divisor), the year-end projection,
    and the balance carried from all years up to it. One CTE per scope, the same object for
    every fund rule, so that the rules run together compute it once (the basis "fund years")."""
    # paid per county and day first, the years from the days: the year and month are cut from a
    # few thousand days, not from each of a million claims (the basis, best and median of five:
    # 0.70/0.77 -> 0.45/0.56 s on PostgreSQL, 0.87/0.93 -> 0.71/0.81 s on SQLite)
    daily = (sa.select(Claim.county_code, Claim.settlement_date.label("day"),
                       sa.func.sum(Claim.compensated_amount).label("spent"))
             .where(*scope.county(Claim.county_code), Claim.voided.is_(False))
             # the day first: it tells most claims apart at once (the county, six equal characters)
             .group_by(Claim.settlement_date, Claim.county_code).subquery("daily"))
    year = year_of(daily.c.day)
    spent = (sa.select(daily.c.county_code, year.label("year"), sa.func.sum(daily.c.spent).label("spent"),
                       sa.func.max(month_of(daily.c.day)).label("months"))
             .group_by(daily.c.county_code, year).subquery("spent"))
    raised = (sa.select(FundFinancing.county_code, FundFinancing.year, sa.func.sum(FundFinancing.amount).label("income"))
              .where(*scope.county(FundFinancing.county_code))
              .group_by(FundFinancing.county_code, FundFinancing.year).subquery("raised"))
    paid = sa.func.coalesce(spent.c.spent, 0)
    months = sa.func.coalesce(spent.c.months, 12)
    running = dict(partition_by=raised.c.county_code, order_by=raised.c.year)
    return (sa.select(raised.c.county_code, raised.c.year, raised.c.income, paid.label("spent"), months.label("months"),
                      (paid * 12 / months).label("projected"),
                      (sa.func.sum(raised.c.income).over(**running) - sa.func.sum(paid).over(**running)).label("carried"))
            .outerjoin(spent, sa.and_(spent.c.county_code == raised.c.county_code, spent.c.year == raised.c.year))
            .where(raised.c.income > 0).cte("fund"))


def _fund_rule(condition: Callable[[Any, dict[str, Any]], Any], at_stake: Callable[[Any, dict[str, Any]], Any]
               ) -> Callable[[dict[str, Any], Scope], sa.Select]:
    def query(params: dict[str, Any], scope: Scope) -> sa.Select:
        fund = _fund_years(scope)
        year = sa.cast(fund.c.year, sa.String)
        return (sa.select((sa.literal("fund:") + fund.c.county_code + sa.literal(":") + year).label("subject_key"),
                          fund.c.county_code.label("county_code"), sa.null().label("claim_id"),
                          sa.null().label("institution_id"), at_stake(fund.c, params).label("amount"),
                          sa.func.date(year + sa.literal("-01-01")).label("period_start"),
                          sa.func.date(year + sa.literal("-12-31")).label("period_end"),
                          fund.c.income.label("ev_income"), fund.c.spent.label("ev_spent"),
                          fund.c.months.label("ev_months"), sa.func.round(fund.c.projected, 2).label("ev_projected"),
                          sa.func.round(fund.c.carried, 2).label("ev_balance_carried"))
                .where(condition(fund.c, params), *scope.years(fund.c.year)))

    return query


def not_enrolled(params: dict[str, Any], scope: Scope) -> sa.Select:
    # the members' years without enrolment (the basis "member years"), then their claims looked up
    # by the member index (ix_claim_member): every claim of such a year is a hit, however many. The
    # few member numbers named as such: PostgreSQL, guessing half the years unenrolled, hashed
    # every claim to meet them
    years, c = _member_years(scope), sa.orm.aliased(Claim, name="c")
    m = years.c
    return (sa.select(*_claim_columns(c), m.year.label("ev_year"))
            .select_from(years)
            .join(c, sa.and_(c.member_no == m.member_no, c.county_code == m.county_code,
                             year_of(c.admission_date) == m.year))
            .where(~m.enrolled, *scope.claims(c), among(c.member_no, sa.select(m.member_no).where(~m.enrolled))))


@functools.lru_cache(maxsize=16)
def _listed(kind: RestrictionKind, scope: Scope) -> Any:
    """The claims with an item or a main diagnosis on the restriction list, a row per listed
    code, with what the rules of its basis read: the claim's columns, the item's amount, the
    restriction, and the member's sex and birth date. One CTE per kind and scope, the same object
    for the sex and the age rule of the kind (the bases "items of note", "listed diagnoses").

    The listed codes are found first, in one scan (for items, the scan of the items of note);
    then their few claims looked up by id (joined at once, PostgreSQL guessed a quarter of the
    items listed and hashed every claim), and their members' sex and birth date looked up claim
    by claim (joined, PostgreSQL matched every claim to its member before it knew how few were
    listed)."""
    c = sa.orm.aliased(Claim, name="c")
    member = sa.and_(Member.county_code == c.county_code, Member.member_no == c.member_no)
    read = (c.id, c.county_code, c.source_id, c.member_no, c.institution_id, c.compensated_amount, c.admission_date,
            c.discharge_date, Restriction.allowed_sex, Restriction.min_age, Restriction.max_age,
            Restriction.note, sa.select(Member.sex).where(member).scalar_subquery().label("sex"),
            sa.select(Member.birth_date).where(member).scalar_subquery().label("birth_date"))
    if kind is RestrictionKind.DIAGNOSIS:
        # a code is listed whole or by its first letters: one lookup per length on the list. The
        # claims' own columns are read in the scan that finds them; SQLite, given the claims and
        # the list to join at once, scanned the claims once per listed code
        lengths = (sa.select(sa.func.length(Restriction.code).label("n")).where(Restriction.kind == kind)
                   .distinct().subquery())
        # the claims whose diagnosis begins with a listed code's letter first, a test of one
        # character each: then a few, not every claim, are looked up once per length
        initials = sa.select(sa.func.substr(Restriction.code, 1, 1)).where(Restriction.kind == kind).distinct()
        found = (sa.select(c.id, Restriction.id.label("restriction_id"))
                 .select_from(c).join(lengths, sa.true())
                 .join(Restriction, sa.and_(Restriction.kind == kind, Restriction.code == sa.func.substr(
                     c.diagnosis_code, 1, lengths.c.n)))
                 .where(*scope.claims(c), sa.func.substr(c.diagnosis_code, 1, 1).in_(initials))
                 .cte("diagnoses_found").prefix_with("MATERIALIZED"))
        return (sa.select(*read, sa.null().label("amount"), c.diagnosis_code.label("code"))
                .select_from(found).join(c, c.id == found.c.id)
                .join(Restriction, Restriction.id == found.c.restriction_id)
                .where(among(c.id, sa.select(found.c.id)))
                .cte("listed_diagnoses").prefix_with("MATERIALIZED"))
    noted = _items_of_note(scope)
    codes = sa.select(Restriction.code).where(Restriction.kind == kind)
    return (sa.select(*read, noted.c.amount, noted.c.item_code.label("code"))
            .select_from(noted)
            .join(Restriction, sa.and_(Restriction.kind == kind, Restriction.code == noted.c.item_code))
            .join(c, c.id == noted.c.claim_id)
            .where(*scope.claims(c), among(c.id, sa.select(noted.c.claim_id).where(noted.c.item_code.in_(codes))))
            .cte("listed_items").prefix_with("MATERIALIZED"))


def _restricted(kind: RestrictionKind, by_sex: bool) -> Callable[[dict[str, Any], Scope], sa.Select]:
    """Items or diagnoses restricted by sex or by age (config/restrictions.csv)."""

    def query(params: dict[str, Any], scope: Scope) -> sa.Select:
        listed = _listed(kind, scope).c
        if by_sex:
            breach = sa.and_(listed.allowed_sex.is_not(None), listed.allowed_sex != listed.sex)
        else:
            age = _age_at(listed.admission_date, listed.birth_date)
            breach = sa.or_(sa.and_(listed.min_age.is_not(None), age < listed.min_age),
                            sa.and_(listed.max_age.is_not(None), age > listed.max_age))
        claim = _claim_read(listed)
        if kind is RestrictionKind.DIAGNOSIS:  # a claim listed twice (O, O80) is one hit
            return (sa.select(*_claim_columns(listed), sa.func.min(listed.code).label("ev_code"),
                              sa.func.min(listed.note).label("ev_restriction"))
                    .where(breach).group_by(*claim))
        return (sa.select(*_claim_columns(listed, sa.func.sum(listed.amount)),
                          sa.func.min(listed.code).label("ev_code"), sa.func.count().label("ev_lines"))
                .where(breach).group_by(*claim))

    return query


CATALOGUE: tuple[Rule, ...] = (
    Rule("duplicate_claim", "1", "duplicate claim", "重复报销", "Duplicate claim",
         "A claim for the same person (national ID, in any county), institution, kind of care and "
         "dates as a claim settled before it, with a total within {amount_tolerance} of it.",
         "同一身份证号（含跨县）、同一医疗机构、同类就诊、同日期的结算单，医疗总费用相差不超过 "
         "{amount_tolerance}（比例），后结算者为重复报销。",
         "the compensation paid on the claim settled second", Severity.VIOLATION, duplicate_claim,
         {"amount_tolerance": 0.1},
         example="A stay from 2 to 9 March at the county hospital, 3,000.00 yuan, settled on 10 March in one "
                 "county and again on 20 March in another by the same national ID: the second is a hit. The "
                 "same dates at another institution are not."),
    Rule("duplicate_enrolment", "1", "duplicate enrolment", "重复参合", "Duplicate enrolment",
         "One national ID enrolled twice in the same year (in two counties, or twice in one): the "
         "enrolment in the county of the ID's area code (else the earliest) is the person's own, "
         "each other one is a hit.",
         "同一身份证号同一年度参合两次（跨县或同县）：身份证地址码所在县（否则最早）的参合为本人参合，其余为重复参合。",
         "the government subsidy paid for the duplicate ({subsidy} yuan a person)", Severity.VIOLATION,
         duplicate_enrolment, {"subsidy": 200},
         example="A person with an ID from 520121 enrolled for 2011 in 520121 and in 520322: the 520322 "
                 "enrolment is a hit; enrolments in 2010 and 2011 in one county are not."),
    Rule("care_after_death", "1", "care after death", "死亡后就医", "Care after death",
         "A claim whose admission or visit date is after the member's date of death.",
         "就诊或入院日期晚于参合人员死亡日期的结算单。",
         "the compensation paid on the claim", Severity.VIOLATION, care_after_death,
         example="A member died on 10 March 2011: an outpatient visit on 15 March is a hit; a visit on "
                 "10 March, or a stay from 8 to 10 March, is not."),
    Rule("overlapping_stays", "2", "overlapping stays", "重叠住院", "Overlapping inpatient stays",
         "An inpatient claim that begins before another inpatient stay of the same member has ended "
         "(a discharge and an admission on the same day, a transfer, is not an overlap). A copy of the "
         "stay before it at the same institution (the same dates, totals within {amount_tolerance} of the one "
         "settled second) is not a second stay: it is a duplicate claim, and that rule reports it (keep the "
         "two rules' amount_tolerance alike).",
         "同一参合人员两次住院时间重叠（出院当日再入院、即转院，不计）。同一医疗机构、同一住院日期、总费用相差不超过 "
         "{amount_tolerance}（以后结算者计）的，是同一次住院的重复报销，由重复报销规则认定，不计为重叠住院。",
         "the compensation paid on the later stay", Severity.VIOLATION, overlapping_stays,
         {"amount_tolerance": 0.1}, basis=STAYS,
         example="Stays from 1 to 10 April and from 5 to 12 April: the second is a hit. Stays from 1 to 5 May "
                 "and from 5 to 8 May (a transfer) are not, nor a second claim for the 1-10 April stay at the "
                 "same hospital (a duplicate claim)."),
    Rule("split_admission", "1", "split admission", "分解住院", "Split admission",
         "An inpatient admission to the same institution within {readmission_days} days of the same "
         "member's discharge from it; planned cycles (diagnoses starting {excluded_diagnoses}, such "
         "as chemotherapy or radiotherapy) are not counted.",
         "同一参合人员出院后 {readmission_days} 天内再次入住同一医疗机构；化疗、放疗等计划性周期治疗"
         "（主诊断以 {excluded_diagnoses} 开头）不计。",
         "the compensation paid on the readmission", Severity.SUSPICIOUS, split_admission,
         {"readmission_days": 15, "excluded_diagnoses": ["Z51"]}, basis=STAYS,
         example="Discharged from the county hospital on 5 June, admitted again there on 20 June (day 15): "
                 "a hit. Admitted again on 21 June (day 16), or a chemotherapy cycle (Z51.1) a week after "
                 "the last: not."),
    Rule("outpatient_during_stay", "1", "outpatient during a stay", "住院期间门诊", "Outpatient care during a stay",
         "An outpatient claim dated strictly between the admission and discharge of an inpatient stay "
         "of the same member.",
         "门诊就诊日期在同一参合人员住院期间（不含入院、出院当日）。",
         "the compensation paid on the outpatient claim", Severity.SUSPICIOUS, outpatient_during_stay,
         basis=STAYS,
         example="A stay from 1 to 10 August: an outpatient visit on 5 August is a hit; visits on 1 or "
                 "10 August are not."),
    Rule("overpayment", "1", "overpayment", "超额补偿", "Overpayment against the scheme",
         "A claim paid more than its county's scheme of the year gives it alone (the deductible, "
         "ratio and per-visit cap of its kind and institution level), by more than {tolerance} yuan. "
         "The annual cap only lowers what is due, so it is not needed to find an overpayment.",
         "补偿金额超过本县当年补偿方案（起付线、报销比例、单次封顶）应付金额 {tolerance} 元以上。",
         "the amount paid above what the scheme gives", Severity.VIOLATION, overpayment, {"tolerance": 0.01},
         basis=SCHEME_TERMS, unchecked=_scheme_gaps,
         example="Eligible cost 5,300.00 yuan at the county hospital, deductible 300.00, ratio 70 %: 3,500.00 "
                 "is due. Paid 3,710.00 (no deductible): a hit for 210.00. Paid 3,500.00: not."),
    Rule("missing_referral", "2", "missing referral", "未转诊", "Stay without referral",
         "A stay without referral at a level whose terms cut the ratio without one (the scheme's "
         "unreferred_ratio_cut of that level; by default municipal, provincial and out of province), where "
         "the scheme requires referral, paid more than the cut ratio gives (by over {tolerance} yuan).",
         "在要求转诊的县，未经转诊到需转诊的医疗机构级别（该级别设有未转诊降低比例，默认市级及以上）住院，"
         "却未按降低后的比例补偿（超出 {tolerance} 元以上）。",
         "the amount paid above the unreferred terms", Severity.VIOLATION, missing_referral, {"tolerance": 0.01},
         basis=SCHEME_TERMS, unchecked=_scheme_gaps,
         example="A stay at a provincial hospital without referral, paid at the referred ratio: a hit. "
                 "The same stay paid at the ratio less the cut, or with a referral: not. Where the scheme cuts "
                 "county-level stays too (unreferred_ratio_cut: {county: ...}), an unreferred stay at the "
                 "county hospital paid in full is a hit."),
    Rule("scheme_terms_missing", "1", "data quality", "补偿方案缺项", "Claims no scheme terms judge",
         "Claims of a county, year, kind of care and institution level for which the county's scheme "
         "of the year has no terms (no scheme for the year, or no deductible and ratio for that kind "
         "of care at that level): the scheme rules (overpayment, missing referral, and the annual cap "
         "where the year has no scheme) cannot judge them. A gap in config/schemes.yaml to fill, or "
         "care the county should not have paid.",
         "本县当年补偿方案中没有对应条款（该年无补偿方案，或该就诊类别在该机构级别无起付线、报销比例）的结算单："
         "超额补偿、未转诊等规则无法审核。应补充 config/schemes.yaml，或核实该县是否不应报销此类就诊。",
         "the compensation paid on the claims no scheme terms judge (reported apart from money at stake)",
         Severity.SUSPICIOUS, scheme_terms_missing, whole_county=True, basis=SCHEME_TERMS,
         example="Outpatient visits at the county hospital paid in 2011 by a county whose 2011 scheme has "
                 "outpatient terms for village and township care only: one finding for the county, 2011, "
                 "outpatient care, county level, with the visits and their compensation. Once the scheme "
                 "gives county-level outpatient terms, the finding closes and overpayment judges them."),
    Rule("cap_breach", "2", "cap breach", "超封顶线", "Annual cap breached",
         "A member whose compensation in a year, over all claims, exceeds the county's annual cap "
         "of that year, or whose outpatient compensation exceeds the scheme's outpatient annual cap "
         "where it has one, by more than {tolerance} yuan.",
         "参合人员一年内累计补偿超过本县当年封顶线，或门诊补偿超过门诊年度封顶线（如设），超出 {tolerance} 元以上。",
         "the compensation above the caps (the outpatient cap's excess, then the rest of the year's "
         "above the annual cap)", Severity.VIOLATION, cap_breach, {"tolerance": 0.01}, basis=MEMBER_YEARS,
         unchecked=_uncapped,
         example="Two stays paid 30,000.00 and 25,000.00 yuan in a year with a 45,000.00 cap: a hit for "
                 "10,000.00. 45,000.00 in all: not. Visits paid 420.00 in a year with a 300.00 outpatient "
                 "cap: a hit for 120.00; 300.00: not."),
    Rule("over_standard_price", "1", "over-standard price", "超标准收费", "Price above the catalogue",
         "A claim with an item billed at a unit price above the provincial catalogue price by more "
         "than {tolerance} (a share of the price).",
         "收费项目单价超过省级价格目录标准（超出比例 {tolerance} 以上）。",
         "the amount billed above the catalogue prices", Severity.VIOLATION, over_standard_price,
         {"tolerance": 0.0}, basis=ITEMS_OF_NOTE, unchecked=lambda params, scope: _unpriced(scope),
         example="An item with a catalogue price of 10.00 yuan billed at 12.00: a hit for 2.00 a unit. "
                 "Billed at 10.00: not."),
    Rule("excess_quantity", "1", "excess quantity", "超量收费", "Bed days beyond the stay",
         "A stay billing more bed days than it lasted (discharge minus admission) plus {extra_bed_days}.",
         "住院床位费天数超过住院天数加 {extra_bed_days} 天。",
         "the bed charges for the days beyond the stay", Severity.VIOLATION, excess_quantity,
         {"extra_bed_days": 1}, basis=ITEMS_OF_NOTE,
         example="A stay from 1 to 9 May (8 days) billing 12 bed days: a hit. Billing 9: not."),
    Rule("ghost_stay", "1", "ghost or bed-blocking stay", "挂床住院", "Ghost or bed-blocking stay",
         "A stay of {min_days} days or more costing less than {max_cost_per_day} yuan a day in all.",
         "住院 {min_days} 天以上而日均总费用低于 {max_cost_per_day} 元。",
         "the compensation paid on the stay", Severity.SUSPICIOUS, ghost_stay,
         {"min_days": 15, "max_cost_per_day": 50}, basis=STAYS,
         example="30 days for 600.00 yuan (20.00 a day): a hit. 30 days for 3,000.00, or 10 days for "
                 "200.00: not.",
         source="form: a stay longer than a bound costing less than a floor a day, as supervision frames ghost "
                "stays (挂床住院). Floor: 50 yuan a day, under a tenth of a day in hospital in 2010 (590.6 yuan; "
                "Ministry of Health, 2010年我国卫生事业发展统计公报): almost no care beyond the bed. Bound: 15 days, "
                "about 1.4 times the hospitals' mean stay of that year (10.5 days in 2009 and 2010; township "
                "health centres 5.2 days: Ministry of Health, 2010年1-12月全国医疗服务工作效率)"),
    Rule("low_standard_admission", "1", "low-standard admission", "低标准入院", "Admission for outpatient care",
         "A stay of at most {max_days} days costing at most {max_total} yuan, for a diagnosis treated as an "
         "outpatient ({diagnoses}).",
         "以门诊可治疗的诊断（{diagnoses}）住院，住院不超过 {max_days} 天且总费用不超过 {max_total} 元。",
         "the compensation paid on the stay", Severity.SUSPICIOUS, low_standard_admission,
         {"diagnoses": ["J06.9", "J02.9", "K02.9", "L30.9", "M54.5", "R50.9"], "max_days": 3, "max_total": 1000},
         basis=STAYS,
         example="Admitted for J06.9 (a common cold) for 2 days, 450.00 yuan: a hit. For J18.9 "
                 "(pneumonia), or for J06.9 over 5 days: not.",
         source="form: a diagnosis treated as an outpatient (an ICD list), a short stay and a low cost, as "
                "supervision frames low-standard admissions (低标准入院). Cost bound: 1,000 yuan, under half of a "
                "stay at a community health centre in 2010 (2,357.6 yuan) and a sixth of one in hospital (6,193.9 "
                "yuan; Ministry of Health, 2010年我国卫生事业发展统计公报). Length bound: 3 days, under a third of "
                "the hospitals' mean stay of that year (10.5 days in 2009 and 2010; township health centres "
                "5.2 days: Ministry of Health, 2010年1-12月全国医疗服务工作效率)"),
    Rule("fund_overspend", "1", "fund early warning", "基金超支预警", "Fund heading for a deficit",
         "A county fund whose compensation paid in a year, at the monthly run rate so far (paid x 12 / "
         "months reached), comes to more than the year's financing: a deficit now or by the year's end.",
         "县级统筹基金按当年已发生月份的支出速度（已支出 x 12 / 已到月份）推算，全年支出将超过当年筹资：当年赤字或年底前将出现赤字。",
         "the projected deficit", Severity.SUSPICIOUS,
         _fund_rule(lambda f, p: f.projected > f.income, lambda f, p: f.projected - f.income),
         whole_county=True, basis=FUND_YEARS,
         example="1,000,000.00 raised for 2011, 600,000.00 paid by the end of June: 1,200,000.00 projected, "
                 "a hit for 200,000.00. 450,000.00 paid by June: not."),
    Rule("fund_surplus", "1", "fund early warning", "基金结余过多预警", "Fund hoarding",
         "A county fund whose projected surplus for the year (financing less the projected "
         "compensation) is more than {max_surplus} of the year's financing.",
         "县级统筹基金当年预计结余（筹资减预计支出）超过当年筹资的 {max_surplus}。",
         "the projected surplus above the limit", Severity.SUSPICIOUS,
         _fund_rule(lambda f, p: f.income - f.projected > f.income * _amount(p["max_surplus"]),
                    lambda f, p: f.income - f.projected - f.income * _amount(p["max_surplus"])),
         {"max_surplus": 0.15}, whole_county=True, basis=FUND_YEARS,
         example="1,000,000.00 raised, 800,000.00 projected: a 20 % surplus, a hit for 50,000.00. 900,000.00 "
                 "projected: not."),
    Rule("fund_cumulative_surplus", "1", "fund early warning", "基金累计结余过多预警", "Fund hoarding over the years",
         "A county fund whose balance carried over all years up to this one (financing less "
         "compensation) is more than {max_carried} of this year's financing.",
         "县级统筹基金历年累计结余超过当年筹资的 {max_carried}。",
         "the carried balance above the limit", Severity.SUSPICIOUS,
         _fund_rule(lambda f, p: f.carried > f.income * _amount(p["max_carried"]),
                    lambda f, p: f.carried - f.income * _amount(p["max_carried"])),
         {"max_carried": 0.25}, whole_county=True, basis=FUND_YEARS,
         example="300,000.00 carried into a year with 1,000,000.00 raised: a hit for 50,000.00; 200,000.00: not."),
    Rule("not_enrolled", "1", "not enrolled", "非参合人员", "Claim of a person not enrolled that year",
         "A claim whose member has no enrolment in the county for the year of the admission or visit.",
         "结算单对应人员在就诊年度未在本县参合。",
         "the compensation paid on the claim", Severity.VIOLATION, not_enrolled, basis=MEMBER_YEARS,
         example="A member enrolled for 2010 only: a visit on 1 September 2011 is a hit; a visit in 2010 is not."),
    Rule("sex_restricted_item", "1", "sex-restricted items and diagnoses", "限性别项目", "Item restricted to the other sex",
         "A claim billing an item that the restriction list allows only for the other sex.",
         "结算单中含有限定另一性别使用的收费项目。",
         "the amount billed for the restricted items", Severity.VIOLATION,
         _restricted(RestrictionKind.ITEM, by_sex=True), basis=ITEMS_OF_NOTE,
         example="A prenatal examination (E0006, women only) billed for a man: a hit; for a woman: not."),
    Rule("sex_restricted_diagnosis", "1", "sex-restricted items and diagnoses", "限性别诊断",
         "Diagnosis restricted to the other sex",
         "A claim whose main diagnosis (an ICD-10 code or its prefix on the restriction list) exists "
         "only for the other sex.",
         "结算单主诊断仅适用于另一性别。",
         "the compensation paid on the claim", Severity.VIOLATION, _restricted(RestrictionKind.DIAGNOSIS, by_sex=True),
         basis=LISTED_DIAGNOSES,
         example="N71.0 (inflammatory disease of the uterus) for a man: a hit; for a woman, or N40 "
                 "(prostate) for a man: not."),
    Rule("age_restricted_item", "1", "age-restricted items and diagnoses", "限年龄项目", "Item outside its age range",
         "A claim billing an item for a member whose age at admission is outside the item's age range.",
         "结算单中含有与患者入院时年龄不符的限年龄收费项目。",
         "the amount billed for the restricted items", Severity.SUSPICIOUS,
         _restricted(RestrictionKind.ITEM, by_sex=False), basis=ITEMS_OF_NOTE,
         example="Levofloxacin (D0009, from 18) for a girl of 3: a hit; for a man of 39: not."),
    Rule("age_restricted_diagnosis", "1", "age-restricted items and diagnoses", "限年龄诊断",
         "Diagnosis outside its age range",
         "A claim whose main diagnosis is on the restriction list for an age range the member's age "
         "at admission is outside of.",
         "结算单主诊断与患者入院时年龄不符。",
         "the compensation paid on the claim", Severity.SUSPICIOUS, _restricted(RestrictionKind.DIAGNOSIS, by_sex=False),
         basis=LISTED_DIAGNOSES,
         example="P07.3 (a perinatal condition, up to age 1) for a man of 39: a hit; O80 (childbirth, "
                 "women of 12 to 55) for a woman of 39: not."),
)
RULES = {rule.code: rule for rule in CATALOGUE}
