"""Recompute every claim of a base year under candidate schemes, set-based in SQL, and project
the county fund of the next year (docs/simulation.md).

One statement reads each claim of the base year once, joined to the terms of every scheme (the
county's own and each candidate) the way the rule ``overpayment`` joins the stored terms
(``ncms.monitor.catalogue.scheme_terms``), and computes what each pays for the claim alone with
the rules' arithmetic (``claim_pays``: deductible, ratio less any referral cut, rounding, per-visit
cap); window sums over the member's claims of the year in settlement order then apply the
outpatient annual cap and the annual cap, as ``ncms.compensation`` does claim by claim::

    due = min(cap, claims so far including this one) - min(cap, claims before it)

(what the member received before is what the scheme would have paid them before). The fund
figures are then a few sums per county."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ncms.compensation import Scheme, Terms
from ncms.ids import mask_name
from ncms.models import (Claim, ClaimKind, CompensationScheme, County, Enrolment, FundFinancing, Institution,
                         InstitutionLevel, Member, Money, Ratio, SchemeLevel)
from ncms.monitor.catalogue import RULES, larger, referral_cut, scheme_terms, smaller, year_of

from .candidates import Candidate

CURRENT = "current"  # the name of the county's own scheme of the base year in the results
AFFECTED = 10  # members most affected, per county
RATE = Decimal("0.0001")
FEN = Decimal("0.01")


@dataclass(frozen=True)
class BalanceCheck:
    """One balance rule of the fund (domain.md §2) for the projected year."""

    code: str  # surplus | cumulative_surplus | deficit
    label_en: str
    label_zh: str
    figure: Decimal  # the rate (or the balance, for the deficit) the rule judges
    threshold: Decimal
    passed: bool


@dataclass
class Outcome:
    """What one scheme gives a county's claims of the base year, and the fund it leaves."""

    name: str
    compensation: Decimal = Decimal(0)  # the base year's claims, recomputed
    by_kind_level: dict[tuple[str, str], Decimal] = field(default_factory=dict)
    actual_ratio_by_level: dict[str, Decimal | None] = field(default_factory=dict)  # stays: compensation / total
    actual_ratio_inpatient: Decimal | None = None
    members_at_cap: int = 0
    claims_without_terms: int = 0  # the scheme has no terms for their kind and level: it pays nothing
    paid_without_terms: Decimal = Decimal(0)  # what the county paid on them
    projected_expenditure: Decimal = Decimal(0)
    fund_usage_rate: Decimal | None = None
    surplus: Decimal = Decimal(0)
    surplus_rate: Decimal | None = None
    cumulative_surplus: Decimal = Decimal(0)
    cumulative_surplus_rate: Decimal | None = None
    checks: list[BalanceCheck] = field(default_factory=list)


@dataclass(frozen=True)
class Affected:
    member_no: str
    name: str  # masked
    paid: Decimal  # what the county paid the member in the base year
    due: dict[str, Decimal]  # per scheme: what it would pay


@dataclass
class CountyResult:
    county_code: str
    county_name: str
    base_year: int
    claims: int = 0
    total_cost: Decimal = Decimal(0)
    paid: Decimal = Decimal(0)  # what the county paid on the base year's claims
    members_enrolled: int = 0
    financing: Decimal = Decimal(0)  # the base year's
    per_head_financing: Decimal | None = None  # of the projected year
    per_head_stated: bool = False  # given, not the base year's
    next_financing: Decimal = Decimal(0)
    carried: Decimal = Decimal(0)  # the balance at the end of the base year
    growth: Decimal = Decimal(0)
    growth_basis: str = ""
    outcomes: dict[str, Outcome] = field(default_factory=dict)  # CURRENT first, then the candidates
    affected: list[Affected] = field(default_factory=list)


def _levels_of(scheme: Scheme, counties: Sequence[str], year: int) -> sa.Select:
    """A candidate's terms per county, kind and level, as literal rows shaped like the stored ones."""
    kind_type = SchemeLevel.__table__.c.kind.type
    level_type = SchemeLevel.__table__.c.level.type
    rows = []
    terms = scheme.terms or (Terms(ClaimKind.INPATIENT, InstitutionLevel.COUNTY, Decimal(0), Decimal(1)),)
    for county in counties:
        for i, t in enumerate(terms):
            rows.append(sa.select(
                sa.literal(county, sa.String(6)).label("county_code"), sa.literal(year).label("year"),
                sa.literal(scheme.referral_required).label("referral_required"),
                sa.literal(t.kind, kind_type).label("kind"), sa.literal(t.level, level_type).label("level"),
                sa.literal(i + 1).label("terms_id"), sa.literal(t.deductible, Money()).label("deductible"),
                sa.literal(t.ratio, Ratio()).label("ratio"),
                sa.cast(sa.literal(t.per_visit_cap, Money()), Money()).label("per_visit_cap"),
                sa.literal(t.unreferred_ratio_cut, Ratio()).label("unreferred_ratio_cut"))
                .where(sa.true() if scheme.terms else sa.false()))  # a scheme without terms: no row
    return sa.union_all(*rows) if len(rows) > 1 else rows[0]


def _stored_levels(counties: Sequence[str], year: int) -> sa.Select:
    return (sa.select(CompensationScheme.county_code, CompensationScheme.year, CompensationScheme.referral_required,
                      SchemeLevel.kind, SchemeLevel.level, SchemeLevel.id.label("terms_id"), SchemeLevel.deductible,
                      SchemeLevel.ratio, SchemeLevel.per_visit_cap, SchemeLevel.unreferred_ratio_cut)
            .join(CompensationScheme, CompensationScheme.id == SchemeLevel.scheme_id)
            .where(CompensationScheme.county_code.in_(counties), CompensationScheme.year == year))


def _caps_of(scheme: Scheme | None, counties: Sequence[str], year: int) -> Any:
    """Per county: the annual cap and the outpatient annual cap (NULL: none)."""
    if scheme is None:
        return (sa.select(CompensationScheme.county_code, CompensationScheme.annual_cap,
                          CompensationScheme.outpatient_annual_cap)
                .where(CompensationScheme.county_code.in_(counties), CompensationScheme.year == year))
    rows = [sa.select(sa.literal(c, sa.String(6)).label("county_code"),
                      sa.literal(scheme.annual_cap, Money()).label("annual_cap"),
                      sa.cast(sa.literal(scheme.outpatient_annual_cap, Money()), Money())
                      .label("outpatient_annual_cap"))
            for c in counties]
    return sa.union_all(*rows) if len(rows) > 1 else rows[0]


@dataclass(frozen=True)
class Tables:
    """The temporary tables of one simulation (this session's, dropped by ``drop_tables``):
    ``terms`` one row per institution, county and kind of care with every scheme's terms side by
    side (``deductible_<k>``...), ``caps`` one row per county with every scheme's caps, and
    ``claims`` (``fill_claims``) the base year's claims with what each scheme pays for each alone."""

    schemes: int
    terms: sa.Table
    caps: sa.Table
    claims: sa.Table
    members: sa.Table
    outpatient_capped: frozenset[int] = frozenset()  # the schemes with an outpatient annual cap somewhere


class _Terms:
    """Scheme ``k``'s columns of the wide terms table, named as ``claim_pays`` reads a scheme's
    terms; amounts in fen, ratios in ten-thousandths (``_fen``, ``_points``)."""

    def __init__(self, t: Any, k: int) -> None:
        self.terms_id = t[f"terms_{k}"]
        self.deductible, self.ratio = t[f"deductible_{k}"], t[f"ratio_{k}"]
        self.per_visit_cap, self.unreferred_ratio_cut = t[f"per_visit_cap_{k}"], t[f"cut_{k}"]
        self.referral_required = t[f"referral_required_{k}"]


NO_CAP = 10**16  # fen: a level without a per-visit cap (no claim reaches it)


def _fen(value: Any) -> int | None:
    """Yuan (two decimals, as Money stores them) in whole fen."""
    return None if value is None else int((Decimal(value) * 100).to_integral_value(ROUND_HALF_UP))


def _points(value: Any) -> int | None:
    """A ratio (four decimals, as Ratio stores it) in ten-thousandths."""
    return None if value is None else int((Decimal(value) * 10000).to_integral_value(ROUND_HALF_UP))


def _yuan(fen: Any) -> Decimal:
    return Decimal(0).quantize(FEN) if fen is None else Decimal(int(fen)).scaleb(-2)


def claim_ratio(terms: _Terms) -> Any:
    """The ratio ``terms`` pay a claim at (of ``Claim``), in ten-thousandths: the scheme's, less
    the level's referral cut on an unreferred stay (the rules' ``referral_cut``), at least 0."""
    return larger(terms.ratio - referral_cut(terms), 0)


def claim_pays_fen(eligible: Any, deductible: Any, ratio: Any, per_visit_cap: Any) -> Any:
    """The rules' ``claim_pays`` (``ncms.monitor.catalogue``: docs/compensation.md steps 1-5) in
    whole numbers: ``round((eligible - deductible)+ * ratio, 2)`` (``claim_ratio``), at most the
    per-visit cap, with the amounts in fen and the ratios in ten-thousandths, so that the share
    is an exact integer in millionths of a yuan and rounding half up to the fen is
    ``(share + 5000) // 10000`` (the share is never negative). The same figure to the fen as the
    numeric arithmetic: at 1,000,000 claims and five schemes on PostgreSQL, NUMERIC's took most
    of the pass over the claims; on SQLite, which computes money in floats, it is exact."""
    share = (larger(eligible - deductible, 0) * ratio + 5000) // 10000
    return smaller(share, sa.func.coalesce(per_visit_cap, NO_CAP))


def load_terms(session: Session, counties: Sequence[str], year: int, schemes: Sequence[Scheme | None]) -> Tables:
    """Each scheme's terms as institutions meet them, read through the rules' own
    ``scheme_terms`` (the stored scheme of the year for None, a candidate's literal rows
    otherwise), laid side by side in temporary tables: a claim then meets every scheme in one
    join (a join per scheme, PostgreSQL sorted the claims for each: 42 s for four candidates over
    100,000 claims)."""
    n, suffix = len(schemes), uuid.uuid4().hex[:8]
    kind_type = SchemeLevel.__table__.c.kind.type
    meta = sa.MetaData()
    per_k = [column for k in range(n) for column in (
        sa.Column(f"terms_{k}", sa.Integer), sa.Column(f"referral_required_{k}", sa.Boolean),
        sa.Column(f"deductible_{k}", sa.BigInteger), sa.Column(f"ratio_{k}", sa.BigInteger),
        sa.Column(f"per_visit_cap_{k}", sa.BigInteger), sa.Column(f"cut_{k}", sa.BigInteger))]
    terms = sa.Table(f"simulation_terms_{suffix}", meta, sa.Column("institution_id", sa.Integer),
                     sa.Column("county_code", sa.String(6)), sa.Column("kind", kind_type), *per_k,
                     prefixes=["TEMPORARY"])
    caps = sa.Table(f"simulation_caps_{suffix}", meta, sa.Column("county_code", sa.String(6)),
                    *(c for k in range(n) for c in (sa.Column(f"cap_{k}", sa.BigInteger),
                                                   sa.Column(f"opcap_{k}", sa.BigInteger))),
                    prefixes=["TEMPORARY"])
    claims = sa.Table(
        f"simulation_claims_{suffix}", meta, sa.Column("claim_id", sa.Integer), sa.Column("county_code", sa.String(6)),
        sa.Column("member_no", sa.String(32)), sa.Column("settlement_date", sa.Date),
        sa.Column("source_id", sa.String(64)), sa.Column("kind", kind_type),
        sa.Column("level", Institution.__table__.c.level.type), sa.Column("total_amount", Money()),
        sa.Column("compensated_amount", Money()), *(sa.Column(f"alone_{k}", sa.Integer) for k in range(n)),
        prefixes=["TEMPORARY"])
    members = sa.Table(
        f"simulation_members_{suffix}", meta, sa.Column("county_code", sa.String(6)),
        sa.Column("member_no", sa.String(32)),
        *(c for k in range(n) for c in (sa.Column(f"due_{k}", sa.BigInteger), sa.Column(f"at_cap_{k}", sa.Boolean))),
        sa.Column("touched", sa.Boolean), sa.Column("change", sa.BigInteger), prefixes=["TEMPORARY"])
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # a member's year and the window sums hash and sort a year's claims: in memory, not on disk
        connection.exec_driver_sql("SET LOCAL work_mem = '256MB'")
    meta.create_all(connection)
    wide: dict[tuple[Any, ...], dict[str, Any]] = {}
    capped: dict[str, dict[str, Any]] = {c: {"county_code": c} for c in counties}
    for k, scheme in enumerate(schemes):
        # a candidate's terms are the same in every county: met by the institutions once, then copied
        levels = _stored_levels(counties, year) if scheme is None else _levels_of(scheme, counties[:1], year)
        t = scheme_terms(levels.subquery(f"levels_{k}")).subquery(f"terms_{k}")
        for row in connection.execute(sa.select(t)).mappings():
            for county in ([row["county_code"]] if scheme is None else counties):
                w = wide.setdefault((row["institution_id"], county, row["kind"]), {})
                w.update({f"terms_{k}": row["terms_id"], f"referral_required_{k}": bool(row["referral_required"]),
                          f"deductible_{k}": _fen(row["deductible"]), f"ratio_{k}": _points(row["ratio"]),
                          f"per_visit_cap_{k}": _fen(row["per_visit_cap"]),
                          f"cut_{k}": _points(row["unreferred_ratio_cut"])})
        for row in connection.execute(_caps_of(scheme, counties, year)).mappings():
            capped[row["county_code"]].update({f"cap_{k}": _fen(row["annual_cap"]),
                                               f"opcap_{k}": _fen(row["outpatient_annual_cap"])})
    blank = {c.name: None for c in terms.c}
    if wide:
        connection.execute(terms.insert(), [{**blank, "institution_id": i, "county_code": c, "kind": kind, **w}
                                            for (i, c, kind), w in wide.items()])
    blank = {c.name: None for c in caps.c}
    connection.execute(caps.insert(), [{**blank, **row} for row in capped.values()])
    if connection.dialect.name == "postgresql":
        # without statistics the planner took the few hundred terms for a big table and sorted
        # the million claims to merge-join them (3.5 s at 1,000,000 claims): a hash join now
        connection.exec_driver_sql(f"ANALYZE {terms.name}")
        connection.exec_driver_sql(f"ANALYZE {caps.name}")
    opcapped = frozenset(k for k in range(n) if any(row.get(f"opcap_{k}") is not None for row in capped.values()))
    return Tables(n, terms, caps, claims, members, opcapped)


def fill_claims(session: Session, tables: Tables, counties: Sequence[str], year: int) -> None:
    """The base year's claims (not voided, admitted or visited in the year) into ``tables.claims``,
    each with what each scheme pays for it alone in fen (``alone_<k>``, the rules' ``claim_pays``
    in whole numbers, ``claim_pays_fen``; NULL where the scheme has no terms for it): the one pass
    over the claims, in one join."""
    t = tables.terms.alias("terms")
    n = tables.schemes
    columns: list[Any] = [Claim.id.label("claim_id"), Claim.county_code, Claim.member_no, Claim.settlement_date,
                          Claim.source_id, Claim.kind, Institution.level, Claim.total_amount, Claim.compensated_amount,
                          sa.cast(sa.func.round(Claim.eligible_amount * 100), sa.BigInteger).label("eligible_fen")]
    for k in range(n):
        terms = _Terms(t.c, k)
        columns += [terms.terms_id.label(f"terms_{k}"), terms.deductible.label(f"deductible_{k}"),
                    terms.per_visit_cap.label(f"per_visit_cap_{k}"), claim_ratio(terms).label(f"ratio_{k}")]
    joined = (sa.select(*columns).select_from(Claim)
              .outerjoin(Institution, Institution.id == Claim.institution_id)
              # as the rule overpayment meets the stored terms (_paid_above_terms); the year is the base year's
              .outerjoin(t, sa.and_(t.c.institution_id == Claim.institution_id, t.c.county_code == Claim.county_code,
                                    t.c.kind == Claim.kind))
              .where(Claim.county_code.in_(counties), Claim.voided.is_(False),
                     Claim.admission_date.between(date(year, 1, 1), date(year, 12, 31)))
              # OFFSET 0: PostgreSQL computes the claim's eligible fen once, not once per scheme
              .offset(0).subquery("joined"))
    j = joined.c
    query = sa.select(*(j[c.name] for c in tables.claims.c if not c.name.startswith("alone_")), *(
        # PostgreSQL's GREATEST and LEAST pass over NULLs: a claim without terms is NULL, not 0
        sa.case((j[f"terms_{k}"].is_not(None), claim_pays_fen(j.eligible_fen, j[f"deductible_{k}"], j[f"ratio_{k}"],
                                                             j[f"per_visit_cap_{k}"])))
        for k in range(n)))
    connection = session.connection()
    connection.execute(tables.claims.insert().from_select([c.name for c in tables.claims.c], query))
    m = _member_years(tables).c
    change = (larger(*(sa.func.abs(m[f"due_{k}"] - m["due_0"]) for k in range(1, tables.schemes)))
              if tables.schemes > 1 else sa.literal(0))
    connection.execute(tables.members.insert().from_select([c.name for c in tables.members.c], sa.select(
        m.county_code, m.member_no, *(m[f"{name}_{k}"] for k in range(tables.schemes)
                                              for name in ("due", "at_cap")),
        sa.or_(*(m[f"capped_{k}"] for k in range(tables.schemes))), change)))
    if connection.dialect.name == "postgresql":
        # the members only: the few whose claims the window sums read are picked from them; the
        # claims are read whole, hashed against those few, without statistics (0.4-0.5 s of CPU)
        connection.exec_driver_sql(f"ANALYZE {tables.members.name}")


def drop_tables(session: Session, tables: Tables) -> None:
    for table in (tables.members, tables.claims, tables.caps, tables.terms):
        table.drop(session.connection())


def windowed(tables: Tables, claims: Any | None = None) -> sa.Select:
    """Claims of ``tables.claims`` (or of ``claims``, a selectable of its rows) with what each
    scheme pays after the caps (``due_<k>``): window sums over the member's claims of the year in
    settlement order apply the outpatient annual cap to outpatient care, then the annual cap:
    ``min(cap, so far with this one) - min(cap, so far before it)``."""
    n = tables.schemes
    source = tables.claims if claims is None else claims
    caps = tables.caps
    first = (sa.select(source, *(caps.c[f"{name}_{k}"] for k in range(n) for name in ("cap", "opcap")))
             .outerjoin(caps, caps.c.county_code == source.c.county_code).subquery("claims_alone"))
    c = first.c
    w = dict(partition_by=(c.county_code, c.member_no), order_by=(c.settlement_date, c.source_id), rows=(None, 0))
    outpatient = c.kind == ClaimKind.OUTPATIENT
    second_cols: list[Any] = [c.claim_id, c.county_code, c.member_no, c.settlement_date, c.source_id, c.kind, c.level,
                              c.total_amount, c.compensated_amount]
    for k in range(n):
        a = sa.func.coalesce(c[f"alone_{k}"], 0)
        o = sa.case((outpatient, a), else_=0)
        so_far = sa.func.sum(o).over(**w)
        opcap = c[f"opcap_{k}"]
        after = sa.case((sa.and_(outpatient, opcap.is_not(None)), smaller(so_far, opcap) - smaller(so_far - o, opcap)),
                        else_=a)
        second_cols += [c[f"alone_{k}"], c[f"cap_{k}"], after.label(f"after_op_{k}")]
    second = sa.select(*second_cols).subquery("claims_outpatient_capped")
    s = second.c
    w = dict(partition_by=(s.county_code, s.member_no), order_by=(s.settlement_date, s.source_id), rows=(None, 0))
    third_cols: list[Any] = [s.claim_id, s.county_code, s.member_no, s.kind, s.level, s.total_amount,
                             s.compensated_amount]
    for k in range(n):
        x, cap = s[f"after_op_{k}"], s[f"cap_{k}"]
        so_far = sa.func.sum(x).over(**w)
        due = sa.case((cap.is_not(None), smaller(so_far, cap) - smaller(so_far - x, cap)), else_=x)
        third_cols += [due.label(f"due_{k}"), s[f"alone_{k}"], cap.label(f"cap_{k}")]
    return sa.select(*third_cols)


def per_claim(session: Session, counties: Sequence[str], year: int,
              schemes: Sequence[Scheme | None]) -> list[dict[str, Any]]:
    """Every claim of the base year with what each scheme pays for it (``due_<k>``, ``alone_<k>``;
    ``schemes[k]`` None: the county's stored scheme), claim by claim: the identity check's view."""
    tables = load_terms(session, counties, year, schemes)
    try:
        fill_claims(session, tables, counties, year)
        fen = [f"{name}_{k}" for k in range(tables.schemes) for name in ("due", "alone", "cap")]
        return [{**row, **{key: None if row[key] is None else _yuan(row[key]) for key in fen}}
                for row in session.execute(windowed(tables)).mappings()]
    finally:
        drop_tables(session, tables)


def simulate(session: Session, county_codes: Iterable[str] | None, base_year: int, candidates: Sequence[Candidate],
             *, per_head_financing: Decimal | None = None, growth: Decimal | None = None,
             affected: int = AFFECTED) -> list[CountyResult]:
    """Each county's claims of ``base_year`` under its own scheme of that year and under each
    candidate, and the fund of the next year under each (docs/simulation.md).

    ``county_codes`` None: every county. ``per_head_financing``: the next year's financing per
    member enrolled (default: the base year's). ``growth``: the utilisation growth assumed from
    the base year to the next (a share, 0.05 for 5 %; default: the county's last two years' trend
    of compensation per member enrolled, 0 when there is one year only)."""
    names = {c.code: c.name for c in session.execute(sa.select(County.code, County.name)).all()}
    counties = sorted(names) if county_codes is None else list(dict.fromkeys(county_codes))
    unknown = [c for c in counties if c not in names]
    if unknown:
        raise ValueError(f"county {', '.join(unknown)} is not in province.yaml")
    schemes: list[Scheme | None] = [None, *(c.scheme for c in candidates)]
    labels = [CURRENT, *(c.name for c in candidates)]
    results = {code: CountyResult(code, names[code], base_year) for code in counties}
    for code, r in results.items():
        r.outcomes = {label: Outcome(label) for label in labels}
    if not counties:
        return []
    tables = load_terms(session, counties, base_year, schemes)
    try:
        fill_claims(session, tables, counties, base_year)
        _by_kind_level(session, tables, results, labels)
        _members(session, tables, results, labels, affected)
    finally:
        drop_tables(session, tables)
    _fund(session, counties, base_year, results, labels, per_head_financing, growth)
    return [results[c] for c in counties]


def _member_years(tables: Tables) -> Any:
    """Each member's year per scheme: stays and visits paid alone, and what the caps leave of
    them, ``min(cap, stays + min(outpatient cap, visits))`` (the window sums' telescoped total)."""
    c, caps = tables.claims.c, tables.caps
    # the year's claims of each scheme, and its visits only where it has an outpatient cap (the
    # kinds are two: stays = all - visits); a member's year is a million claims' hash aggregate,
    # every sum in it costs (3.1 -> 2.8 s of the backend's CPU at 1,000,000 claims, five schemes)
    cols: list[Any] = [c.county_code, c.member_no]
    for k in range(tables.schemes):
        cols.append(sa.func.coalesce(sa.func.sum(c[f"alone_{k}"]), 0).label(f"all_{k}"))
        if k in tables.outpatient_capped:
            cols.append(sa.func.coalesce(sa.func.sum(c[f"alone_{k}"]).filter(c.kind == ClaimKind.OUTPATIENT), 0)
                        .label(f"visits_{k}"))
    grouped = sa.select(*cols).group_by(c.county_code, c.member_no).subquery("member_sums")
    m = grouped.c
    out: list[Any] = [m.county_code, m.member_no]
    for k in range(tables.schemes):
        cap, opcap = caps.c[f"cap_{k}"], caps.c[f"opcap_{k}"]
        before, over_opcap = m[f"all_{k}"], sa.false()
        if k in tables.outpatient_capped:
            visits = m[f"visits_{k}"]
            before = sa.case((opcap.is_not(None), before - visits + smaller(visits, opcap)), else_=before)
            over_opcap = sa.and_(opcap.is_not(None), visits > opcap)
        out += [sa.case((cap.is_not(None), smaller(before, cap)), else_=before).label(f"due_{k}"),
                sa.and_(cap.is_not(None), before >= cap).label(f"at_cap_{k}"),
                sa.or_(sa.and_(cap.is_not(None), before > cap), over_opcap).label(f"capped_{k}")]
    return sa.select(*out).outerjoin(caps, caps.c.county_code == m.county_code).subquery("member_years")


def _by_kind_level(session: Session, tables: Tables, results: dict[str, CountyResult], labels: list[str]) -> None:
    """Sums per county, kind and level: each claim alone, corrected by the window sums over the
    claims of the members whom a cap touches (a few: the others' claims are paid alone)."""
    c = tables.claims.c
    cols: list[Any] = [c.county_code, c.kind, c.level, sa.func.count().label("claims"),
                       sa.func.sum(c.total_amount).label("total"), sa.func.sum(c.compensated_amount).label("paid")]
    for k in range(len(labels)):
        # FILTER, not a CASE giving 0: NUMERIC sums only the claims without terms (the few)
        cols += [sa.func.sum(c[f"alone_{k}"]).label(f"due_{k}"),
                 (sa.func.count() - sa.func.count(c[f"alone_{k}"])).label(f"noterms_{k}"),
                 sa.func.sum(c.compensated_amount).filter(c[f"alone_{k}"].is_(None)).label(f"noterms_paid_{k}")]
    rows = [dict(row) for row in
            session.execute(sa.select(*cols).group_by(c.county_code, c.kind, c.level)).mappings().all()]
    m = tables.members.c
    touched = sa.select(m.county_code, m.member_no).where(m.touched).subquery("touched")
    theirs = (sa.select(tables.claims).join(touched, sa.and_(touched.c.county_code == c.county_code,
                                                            touched.c.member_no == c.member_no))
              .subquery("touched_claims"))
    w = windowed(tables, theirs).subquery("touched_due")
    correction = {(row["county_code"], row["kind"], row["level"]): row for row in session.execute(
        sa.select(w.c.county_code, w.c.kind, w.c.level,
                  *(sa.func.sum(w.c[f"due_{k}"] - sa.func.coalesce(w.c[f"alone_{k}"], 0)).label(f"less_{k}")
                    for k in range(len(labels))))
        .group_by(w.c.county_code, w.c.kind, w.c.level)).mappings()}
    for row in rows:
        fix = correction.get((row["county_code"], row["kind"], row["level"]))
        for k in range(len(labels)):
            row[f"due_{k}"] = _yuan(row[f"due_{k}"]) + (_yuan(fix[f"less_{k}"]) if fix else Decimal(0))
    stays: dict[tuple[str, str | None], tuple[Decimal, list[Decimal]]] = {}
    for row in rows:
        r = results[row["county_code"]]
        r.claims += row["claims"]
        r.total_cost += _money(row["total"])
        r.paid += _money(row["paid"])
        kind = _value(row["kind"])
        level = _value(row["level"]) or "unregistered"
        for k, label in enumerate(labels):
            o = r.outcomes[label]
            due = row[f"due_{k}"]
            o.compensation += due
            o.by_kind_level[(kind, level)] = o.by_kind_level.get((kind, level), Decimal(0)) + due
            o.claims_without_terms += row[f"noterms_{k}"]
            o.paid_without_terms += _money(row[f"noterms_paid_{k}"])
        if kind == ClaimKind.INPATIENT.value:
            total, dues = stays.get((r.county_code, level), (Decimal(0), [Decimal(0)] * len(labels)))
            stays[(r.county_code, level)] = (total + _money(row["total"]),
                                            [d + row[f"due_{k}"] for k, d in enumerate(dues)])
    for (county, level), (total, dues) in stays.items():
        for k, label in enumerate(labels):
            results[county].outcomes[label].actual_ratio_by_level[level] = _rate(dues[k], total)
    for r in results.values():
        for k, label in enumerate(labels):
            total = sum((t for (cc, _), (t, _) in stays.items() if cc == r.county_code), Decimal(0))
            due = sum((d[k] for (cc, _), (_, d) in stays.items() if cc == r.county_code), Decimal(0))
            r.outcomes[label].actual_ratio_inpatient = _rate(due, total)


def _members(session: Session, tables: Tables, results: dict[str, CountyResult], labels: list[str],
             top: int) -> None:
    """Members reaching each scheme's annual cap, and those whose year changes most."""
    m = tables.members
    at_cap = [sa.func.count(sa.case((m.c[f"at_cap_{k}"], 1))).label(f"at_cap_{k}") for k in range(len(labels))]
    for row in session.execute(sa.select(m.c.county_code, *at_cap).group_by(m.c.county_code)).mappings():
        for k, label in enumerate(labels):
            results[row["county_code"]].outcomes[label].members_at_cap = row[f"at_cap_{k}"]
    if len(labels) < 2 or top <= 0:
        return
    # each county's first ``top`` by change: a bounded sort per county (ranking all the members of
    # the province by a window sorted them all: 3.5 s at 1,000,000 claims)
    first = [sa.select(m).where(m.c.county_code == code).order_by(m.c.change.desc(), m.c.member_no).limit(top)
             .subquery(f"first_{i}") for i, code in enumerate(results)]
    ranked = sa.union_all(*(sa.select(f) for f in first)).subquery("ranked") if len(first) > 1 else first[0]
    chosen = session.execute(sa.select(ranked, Member.name).outerjoin(
        Member, sa.and_(Member.county_code == ranked.c.county_code, Member.member_no == ranked.c.member_no))
        .order_by(ranked.c.county_code, ranked.c.change.desc(), ranked.c.member_no)).mappings().all()
    paid: dict[tuple[str, str], Decimal] = {}
    if chosen:  # what the county paid them on the claims of the base year, as fill_claims chooses the claims
        year = next(iter(results.values())).base_year
        keys = sa.tuple_(Claim.county_code, Claim.member_no).in_([(r["county_code"], r["member_no"]) for r in chosen])
        paid = {(cc, no): _money(v) for cc, no, v in session.execute(
            sa.select(Claim.county_code, Claim.member_no, sa.func.sum(Claim.compensated_amount))
            .where(keys, Claim.voided.is_(False), Claim.admission_date.between(date(year, 1, 1), date(year, 12, 31)))
            .group_by(Claim.county_code, Claim.member_no)).all()}
    for row in chosen:
        results[row["county_code"]].affected.append(Affected(
            row["member_no"], mask_name(row["name"]), paid.get((row["county_code"], row["member_no"]), Decimal(0)),
            {label: _yuan(row[f"due_{k}"]) for k, label in enumerate(labels)}))


def _fund(session: Session, counties: list[str], year: int, results: dict[str, CountyResult], labels: list[str],
          per_head: Decimal | None, growth: Decimal | None) -> None:
    counts: dict[tuple[str, int], int] = {
        (cc, y): n for cc, y, n in session.execute(
            sa.select(Enrolment.county_code, Enrolment.year, sa.func.count())
            .where(Enrolment.county_code.in_(counties), Enrolment.year.in_((year - 1, year)))
            .group_by(Enrolment.county_code, Enrolment.year)).all()}
    financing: dict[tuple[str, int], Decimal] = {
        (cc, y): _money(v) for cc, y, v in session.execute(
            sa.select(FundFinancing.county_code, FundFinancing.year, sa.func.sum(FundFinancing.amount))
            .where(FundFinancing.county_code.in_(counties), FundFinancing.year <= year)
            .group_by(FundFinancing.county_code, FundFinancing.year)).all()}
    settled = year_of(Claim.settlement_date)
    spent: dict[tuple[str, int], Decimal] = {
        (cc, int(y)): _money(v) for cc, y, v in session.execute(
            sa.select(Claim.county_code, settled, sa.func.sum(Claim.compensated_amount))
            .where(Claim.county_code.in_(counties), Claim.voided.is_(False),
                   Claim.settlement_date <= date(year, 12, 31))
            .group_by(Claim.county_code, settled)).all()}
    surplus_limit = Decimal(str(RULES["fund_surplus"].params["max_surplus"]))
    carried_limit = Decimal(str(RULES["fund_cumulative_surplus"].params["max_carried"]))
    for code in counties:
        r = results[code]
        r.members_enrolled = counts.get((code, year), 0)
        r.financing = financing.get((code, year), Decimal(0))
        r.carried = (sum((v for (cc, _), v in financing.items() if cc == code), Decimal(0))
                     - sum((v for (cc, _), v in spent.items() if cc == code), Decimal(0)))
        if per_head is not None:
            r.per_head_financing, r.per_head_stated = Decimal(per_head), True
        elif r.members_enrolled:
            r.per_head_financing = (r.financing / r.members_enrolled).quantize(FEN, ROUND_HALF_UP)
        # as the base year's when not given: the base year's financing itself, not a rounded share times the members
        r.next_financing = (r.per_head_financing * r.members_enrolled if r.per_head_stated and r.per_head_financing
                            else r.financing if r.members_enrolled else Decimal(0))
        r.growth, r.growth_basis = _growth(code, year, growth, counts, spent)
        for label in labels:
            o = r.outcomes[label]
            o.projected_expenditure = (o.compensation * (1 + r.growth)).quantize(FEN, ROUND_HALF_UP)
            o.surplus = r.next_financing - o.projected_expenditure
            o.cumulative_surplus = r.carried + o.surplus
            o.fund_usage_rate = _rate(o.projected_expenditure, r.next_financing)
            o.surplus_rate = _rate(o.surplus, r.next_financing)
            o.cumulative_surplus_rate = _rate(o.cumulative_surplus, r.next_financing)
            o.checks = [
                BalanceCheck("surplus", "Current-year surplus at most", "当年结余率不超过",
                             o.surplus_rate if o.surplus_rate is not None else Decimal(0), surplus_limit,
                             o.surplus_rate is not None and o.surplus_rate <= surplus_limit),
                BalanceCheck("cumulative_surplus", "Cumulative surplus at most", "累计结余率不超过",
                             o.cumulative_surplus_rate if o.cumulative_surplus_rate is not None else Decimal(0),
                             carried_limit,
                             o.cumulative_surplus_rate is not None and o.cumulative_surplus_rate <= carried_limit),
                BalanceCheck("deficit", "No current-year deficit (surplus at least)", "当年无赤字（结余不低于）",
                             o.surplus, Decimal(0), r.next_financing > 0 and o.surplus >= 0),
            ]


def _growth(code: str, year: int, given: Decimal | None, counts: dict[tuple[str, int], int],
            spent: dict[tuple[str, int], Decimal]) -> tuple[Decimal, str]:
    if given is not None:
        return Decimal(given), "given"
    now, before = (counts.get((code, year)), spent.get((code, year))), (counts.get((code, year - 1)),
                                                                       spent.get((code, year - 1)))
    if not (now[0] and now[1] and before[0] and before[1]):
        return Decimal(0), f"0: one year only ({year - 1} has no enrolment or no compensation)"
    per_now, per_before = now[1] / now[0], before[1] / before[0]
    trend = (per_now / per_before - 1).quantize(RATE, ROUND_HALF_UP)
    return trend, (f"the trend of compensation per member enrolled, {year - 1} to {year}: "
                   f"{per_before.quantize(FEN, ROUND_HALF_UP)} -> {per_now.quantize(FEN, ROUND_HALF_UP)}")


def _rate(part: Decimal, whole: Decimal) -> Decimal | None:
    return None if not whole else (part / whole).quantize(RATE, ROUND_HALF_UP)


def _money(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value.quantize(FEN, ROUND_HALF_UP)
    return Decimal(f"{value:.2f}") if isinstance(value, float) else Decimal(value).quantize(FEN, ROUND_HALF_UP)


def _value(value: Any) -> str | None:
    if value is None:
        return None
    return value.value if hasattr(value, "value") else str(value)


__all__ = ["AFFECTED", "CURRENT", "Affected", "BalanceCheck", "CountyResult", "Outcome", "Tables", "drop_tables",
           "fill_claims", "load_terms", "per_claim", "simulate", "windowed"]
