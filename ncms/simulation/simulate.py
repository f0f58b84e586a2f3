"""Recompute every claim of a base year under candidate schemes, set-based in SQL, and project
the county fund of the next year (docs/simulation.md).

One statement reads each claim of the base year once, joined to the terms of every scheme (the
county's own and each candidate, inline) by its county, kind of care and institution level as the
rule ``overpayment`` meets the stored terms, computes what each pays for the claim alone with the
rules' arithmetic (``claim_pays``: deductible, ratio less any referral cut, rounding, per-visit
cap) and sums it per member's year and per county, kind and level. The caps apply over the
member's claims of the year in settlement order, the outpatient annual cap then the annual cap,
as ``ncms.compensation`` does claim by claim::

    due = min(cap, claims so far including this one) - min(cap, claims before it)

(what the member received before is what the scheme would have paid them before): a member's
year totals ``min(cap, stays + min(outpatient cap, visits))``, and window sums run over the claims
of the few members a cap touches only. The fund figures are then a few sums per county."""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session

from ncms.compensation import Scheme
from ncms.ids import mask_name
from ncms.models import (Claim, ClaimKind, CompensationScheme, County, Enrolment, FundFinancing, Institution, Member,
                         SchemeLevel)
from ncms.monitor.catalogue import RULES, larger, smaller, year_of

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


NO_CAP = 10**16  # fen: no cap (a level without a per-visit cap, a scheme without an annual cap): none is reached


def _fen(value: Any) -> int | None:
    """Yuan (two decimals, as Money stores them) in whole fen."""
    return None if value is None else int((Decimal(value) * 100).to_integral_value(ROUND_HALF_UP))


def _points(value: Any) -> int | None:
    """A ratio (four decimals, as Ratio stores it) in ten-thousandths."""
    return None if value is None else int((Decimal(value) * 10000).to_integral_value(ROUND_HALF_UP))


def _yuan(fen: Any) -> Decimal:
    return Decimal(0).quantize(FEN) if fen is None else Decimal(int(fen)).scaleb(-2)


def _stored_levels(counties: Sequence[str], year: int) -> sa.Select:
    return (sa.select(CompensationScheme.county_code, CompensationScheme.referral_required, SchemeLevel.kind,
                      SchemeLevel.level, SchemeLevel.deductible, SchemeLevel.ratio, SchemeLevel.per_visit_cap,
                      SchemeLevel.unreferred_ratio_cut)
            .join(CompensationScheme, CompensationScheme.id == SchemeLevel.scheme_id)
            .where(CompensationScheme.county_code.in_(counties), CompensationScheme.year == year))


def _stored_caps(counties: Sequence[str], year: int) -> sa.Select:
    return (sa.select(CompensationScheme.county_code, CompensationScheme.annual_cap,
                      CompensationScheme.outpatient_annual_cap)
            .where(CompensationScheme.county_code.in_(counties), CompensationScheme.year == year))


def terms_fen(referral_required: Any, deductible: Any, ratio: Any, per_visit_cap: Any,
              unreferred_ratio_cut: Any) -> tuple[int, int, int, int]:
    """One scheme's terms of a kind of care at a level as a claim meets them, in whole numbers
    (amounts in fen, ratios in ten-thousandths): the deductible, the ratio of a referred claim,
    the ratio of an unreferred one and the per-visit cap (``NO_CAP``: none). The ratio less the
    level's cut where the scheme requires a referral and the level cuts (the rules'
    ``referral_cut``), at least 0, is worked out here once for the level, not once a claim."""
    ratio_points, cut = _points(ratio) or 0, _points(unreferred_ratio_cut) or 0
    unreferred = max(ratio_points - cut, 0) if referral_required and cut > 0 else max(ratio_points, 0)
    cap = _fen(per_visit_cap)
    return _fen(deductible) or 0, max(ratio_points, 0), unreferred, NO_CAP if cap is None else cap


@dataclass(frozen=True)
class Plan:
    """One simulation's schemes as the claims meet them, inline (no temporary table: a query
    reading one runs in one PostgreSQL process): ``terms`` one row per county, kind of care and
    level with every scheme's terms side by side (scheme ``k``: ``has_<k>`` 1 where it has terms,
    ``deductible_<k>``, ``ratio_<k>``, ``unreferred_<k>``, ``per_visit_cap_<k>``; ``terms_fen``),
    ``caps`` one row per county with every scheme's annual and outpatient annual caps in fen
    (``cap_<k>``, ``opcap_<k>``; ``NO_CAP``: none), both literal rows (``VALUES``)."""

    counties: tuple[str, ...]
    year: int
    schemes: int
    terms: Any
    caps: Any
    outpatient_capped: frozenset[int] = frozenset()  # the schemes with an outpatient annual cap somewhere
    terms_of: frozenset[tuple[int, str, str, str]] = frozenset()  # (k, county, kind, level): scheme k has terms


def plan(session: Session, counties: Sequence[str], year: int, schemes: Sequence[Scheme | None]) -> Plan:
    """Each scheme's terms and caps (``schemes[k]`` None: the county's stored scheme of ``year``,
    read from its tables; a candidate: the same in every county) per county, kind and level."""
    n = len(schemes)
    wide: dict[tuple[str, str, str], dict[str, int]] = {}
    caps: dict[str, dict[str, int]] = {c: {} for c in counties}
    for k, scheme in enumerate(schemes):
        if scheme is None:
            levels = [(r.county_code, r.referral_required, r.kind, r.level, r.deductible, r.ratio, r.per_visit_cap,
                       r.unreferred_ratio_cut) for r in session.execute(_stored_levels(counties, year))]
            stored = {r.county_code: (r.annual_cap, r.outpatient_annual_cap)
                      for r in session.execute(_stored_caps(counties, year))}
        else:
            levels = [(c, scheme.referral_required, t.kind, t.level, t.deductible, t.ratio, t.per_visit_cap,
                       t.unreferred_ratio_cut) for c in counties for t in scheme.terms]
            stored = {c: (scheme.annual_cap, scheme.outpatient_annual_cap) for c in counties}
        for county, referral_required, kind, level, *terms in levels:
            deductible, ratio, unreferred, per_visit_cap = terms_fen(referral_required, *terms)
            wide.setdefault((county, _value(kind) or "", _value(level) or ""), {}).update({
                f"has_{k}": 1, f"deductible_{k}": deductible, f"ratio_{k}": ratio, f"unreferred_{k}": unreferred,
                f"per_visit_cap_{k}": per_visit_cap})
        for county in counties:
            cap, opcap = (_fen(v) for v in stored.get(county, (None, None)))
            caps[county].update({f"cap_{k}": NO_CAP if cap is None else cap,
                                 f"opcap_{k}": NO_CAP if opcap is None else opcap})
    per_k = [f"{name}_{k}" for k in range(n) for name in ("has", "deductible", "ratio", "unreferred", "per_visit_cap")]
    blank = {name: 0 for name in per_k}
    # no row at all (no scheme has terms anywhere): one that no claim meets, VALUES needs a row
    rows = [(c, kind, level, *({**blank, **w}[name] for name in per_k)) for (c, kind, level), w in wide.items()] \
        or [("", "", "", *(0 for _ in per_k))]
    terms = sa.values(sa.column("county_code", sa.String), sa.column("kind", sa.String),
                      sa.column("level", sa.String), *(sa.column(name, sa.BigInteger) for name in per_k),
                      name="simulation_terms", literal_binds=True).data(rows).cte("simulation_terms")
    cap_names = [f"{name}_{k}" for k in range(n) for name in ("cap", "opcap")]
    caps_rows = sa.values(sa.column("county_code", sa.String), *(sa.column(name, sa.BigInteger) for name in cap_names),
                          name="simulation_caps", literal_binds=True).data(
        [(c, *(caps[c][name] for name in cap_names)) for c in counties]).cte("simulation_caps")
    opcapped = frozenset(k for k in range(n) if any(caps[c][f"opcap_{k}"] != NO_CAP for c in counties))
    has = frozenset((k, *key) for key, w in wide.items() for k in range(n) if w.get(f"has_{k}"))
    return Plan(tuple(counties), year, n, terms, caps_rows, opcapped, has)


def claim_pays_fen(eligible: Any, deductible: Any, ratio: Any, per_visit_cap: Any) -> Any:
    """The rules' ``claim_pays`` (``ncms.monitor.catalogue``: docs/compensation.md steps 1-5) in
    whole numbers: ``round((eligible - deductible)+ * ratio, 2)`` (the ratio as ``terms_fen``
    gives it for the claim's referral), at most the per-visit cap, with the amounts in fen and
    the ratios in ten-thousandths, so that the share is an exact integer in millionths of a yuan
    and rounding half up to the fen is ``(share + 5000) // 10000`` (the share is never negative).
    The same figure to the fen as the numeric arithmetic: at 1,000,000 claims and five schemes
    on PostgreSQL, NUMERIC's took most of the pass over the claims; on SQLite, which computes
    money in floats, it is exact."""
    share = (larger(eligible - deductible, 0) * ratio + 5000) // 10000
    return smaller(share, per_visit_cap)


def _admitted(p: Plan) -> Any:
    return Claim.admission_date.between(date(p.year, 1, 1), date(p.year, 12, 31))


def _of_base_year(p: Plan) -> list[Any]:
    """The claims a simulation recomputes: the counties', not voided, admitted or visited in the base year."""
    return [Claim.county_code.in_(p.counties), Claim.voided.is_(False), _admitted(p)]


def claims(p: Plan, members: Any | None = None) -> sa.Subquery:
    """The base year's claims (not voided, admitted or visited in the year; of ``members`` only,
    a selectable of ``county_code, member_no``, if given), each with what each scheme pays for
    it alone in fen (``alone_<k>``, ``claim_pays_fen``; NULL where the scheme has no terms for
    its kind and level): a claim meets its institution's level, then every scheme's terms in one
    join on its county, kind and level (as the rule overpayment meets the stored terms)."""
    t = p.terms.c
    columns: list[Any] = [Claim.id.label("claim_id"), Claim.county_code, Claim.member_no, Claim.settlement_date,
                          Claim.source_id, Claim.kind, Institution.level, Claim.total_amount, Claim.compensated_amount,
                          sa.cast(sa.func.round(Claim.eligible_amount * 100), sa.BigInteger).label("eligible_fen")]
    unreferred = Claim.referral.is_(False)
    for k in range(p.schemes):
        columns += [t[f"has_{k}"], t[f"deductible_{k}"], t[f"per_visit_cap_{k}"],
                    sa.case((unreferred, t[f"unreferred_{k}"]), else_=t[f"ratio_{k}"]).label(f"ratio_{k}")]
    where = _of_base_year(p)
    if members is not None:
        where.append(sa.tuple_(Claim.county_code, Claim.member_no).in_(members))
    joined = (sa.select(*columns).select_from(Claim)
              .outerjoin(Institution, Institution.id == Claim.institution_id)
              .outerjoin(p.terms, sa.and_(t.county_code == Claim.county_code, t.kind == Claim.kind,
                                          t.level == Institution.level))
              .where(*where)
              # OFFSET 0: PostgreSQL computes the claim's eligible fen once, not once per scheme
              .offset(0).subquery("joined"))
    j = joined.c
    return sa.select(
        j.claim_id, j.county_code, j.member_no, j.settlement_date, j.source_id, j.kind, j.level, j.total_amount,
        j.compensated_amount,
        # PostgreSQL's GREATEST and LEAST pass over NULLs: a claim without terms is NULL, not 0
        *(sa.case((j[f"has_{k}"] == 1, sa.cast(claim_pays_fen(j.eligible_fen, j[f"deductible_{k}"], j[f"ratio_{k}"],
                                                               j[f"per_visit_cap_{k}"]), sa.Integer)))
          .label(f"alone_{k}") for k in range(p.schemes))).subquery("claims")


def _sums(p: Plan, c: Any, visits: bool = True) -> list[Any]:
    """Each scheme's claims paid alone, summed in fen (``all_<k>``), and its visits
    (``visits_<k>``; 0 unless ``visits``) for the schemes with an outpatient cap (the kinds are
    two: stays = all - visits). Sums of integers, whose state PostgreSQL keeps in the group's
    row: a member's year is a hash aggregate of a million claims, every sum in it costs."""
    cols: list[Any] = []
    for k in range(p.schemes):
        cols.append(sa.func.coalesce(sa.func.sum(c[f"alone_{k}"]), 0).label(f"all_{k}"))
        if k in p.outpatient_capped:
            cols.append((sa.func.coalesce(sa.func.sum(c[f"alone_{k}"]).filter(c.kind == ClaimKind.OUTPATIENT), 0)
                         if visits else sa.literal(0, sa.BigInteger)).label(f"visits_{k}"))
    return cols


def _grouped(p: Plan, dialect: str) -> Any:
    """The claims paid alone (``claims``) summed per member's year (``by_member`` 1) and per
    county, kind of care and level (``by_member`` 0), from ONE pass over the claims: PostgreSQL
    groups them both ways at once (``GROUPING SETS``, each claim's pay computed once); SQLite,
    which has no grouping sets, reads them twice."""
    if dialect == "postgresql":
        c = claims(p).c
        return (sa.select((1 - sa.func.grouping(c.member_no)).label("by_member"), c.county_code, c.member_no, c.kind,
                          c.level, *_sums(p, c))
                .group_by(sa.func.grouping_sets(sa.tuple_(c.county_code, c.member_no),
                                                sa.tuple_(c.county_code, c.kind, c.level)))
                .subquery("grouped"))
    c, d = claims(p).c, claims(p).c
    return sa.union_all(
        sa.select(sa.literal(1).label("by_member"), c.county_code, c.member_no,
                  sa.cast(sa.null(), c.kind.type).label("kind"), sa.cast(sa.null(), c.level.type).label("level"),
                  *_sums(p, c)).group_by(c.county_code, c.member_no),
        sa.select(sa.literal(0), d.county_code, sa.cast(sa.null(), d.member_no.type), d.kind, d.level,
                  *_sums(p, d, visits=False)).group_by(d.county_code, d.kind, d.level)).subquery("grouped")


def _years(p: Plan, dialect: str) -> sa.Select:
    """``_grouped`` with each member's year per scheme: what the caps leave of the claims paid
    alone, ``min(cap, stays + min(outpatient cap, visits))`` (the window sums' telescoped total,
    ``due_<k>``), whether it reaches the annual cap (``at_cap_<k>``), whether a cap takes
    something off under some scheme (``touched``) and the most any candidate's year differs from
    the county's own scheme's (``change``); a county's kind and level rows keep their sums
    (``due_<k>``: ``all_<k>``)."""
    m = _grouped(p, dialect).c
    caps = p.caps.c
    member = m.by_member == 1
    out: list[Any] = [m.by_member, m.county_code, m.member_no, m.kind, m.level]
    due: list[Any] = []
    capped: list[Any] = []
    for k in range(p.schemes):
        cap = caps[f"cap_{k}"]
        before = m[f"all_{k}"]
        if k in p.outpatient_capped:
            visits, opcap = m[f"visits_{k}"], caps[f"opcap_{k}"]
            before = before - visits + smaller(visits, opcap)
            capped.append(visits > opcap)
        due.append(smaller(before, cap))
        capped.append(before > cap)
        out += [sa.case((member, due[k]), else_=m[f"all_{k}"]).label(f"due_{k}"),
                sa.and_(member, before >= cap).label(f"at_cap_{k}")]
    # one candidate: its change alone (SQLite's max of one argument is the aggregate, and made
    # the members one row)
    changes = [sa.func.abs(due[k] - due[0]) for k in range(1, p.schemes)]
    change = larger(*changes) if len(changes) > 1 else changes[0] if changes else sa.literal(0, sa.BigInteger)
    out += [sa.and_(member, sa.or_(*capped)).label("touched"), change.label("change")]
    return sa.select(*out).join(p.caps, caps.county_code == m.county_code)


class _CreateTemporaryTableAs(sa.sql.expression.Executable, sa.sql.expression.ClauseElement):
    """``CREATE TEMPORARY TABLE name AS query``."""

    inherit_cache = False

    def __init__(self, name: str, query: sa.Select) -> None:
        self.name, self.query = name, query


@compiles(_CreateTemporaryTableAs)
def _create_temporary_table_as(element: _CreateTemporaryTableAs, compiler: Any, **kw: Any) -> str:
    return f"CREATE TEMPORARY TABLE {element.name} AS {compiler.process(element.query, **kw)}"


def fill_years(session: Session, p: Plan) -> sa.TableClause:
    """``_years`` into a temporary table (dropped by the caller): the one pass over the claims."""
    years = sa.table(f"simulation_years_{uuid.uuid4().hex[:8]}", sa.column("by_member", sa.Integer),
                     sa.column("county_code", sa.String), sa.column("member_no", sa.String),
                     sa.column("kind", Claim.__table__.c.kind.type), sa.column("level", Institution.__table__.c.level.type),
                     *(c for k in range(p.schemes) for c in (sa.column(f"due_{k}", sa.BigInteger),
                                                             sa.column(f"at_cap_{k}", sa.Boolean))),
                     sa.column("touched", sa.Boolean), sa.column("change", sa.BigInteger))
    connection = session.connection()
    connection.execute(_CreateTemporaryTableAs(years.name, _years(p, connection.dialect.name)))
    return years


def windowed(p: Plan, source: Any) -> sa.Select:
    """Claims of ``source`` (``claims``) with what each scheme pays after the caps (``due_<k>``):
    window sums over the member's claims of the year in settlement order apply the outpatient
    annual cap to outpatient care, then the annual cap:
    ``min(cap, so far with this one) - min(cap, so far before it)``."""
    n = p.schemes
    caps = p.caps
    first = (sa.select(source, *(caps.c[f"{name}_{k}"] for k in range(n) for name in ("cap", "opcap")))
             .join(caps, caps.c.county_code == source.c.county_code).subquery("claims_alone"))
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
        after = sa.case((outpatient, smaller(so_far, opcap) - smaller(so_far - o, opcap)), else_=a)
        second_cols += [c[f"alone_{k}"], c[f"cap_{k}"], after.label(f"after_op_{k}")]
    second = sa.select(*second_cols).subquery("claims_outpatient_capped")
    s = second.c
    w = dict(partition_by=(s.county_code, s.member_no), order_by=(s.settlement_date, s.source_id), rows=(None, 0))
    third_cols: list[Any] = [s.claim_id, s.county_code, s.member_no, s.kind, s.level, s.total_amount,
                             s.compensated_amount]
    for k in range(n):
        x, cap = s[f"after_op_{k}"], s[f"cap_{k}"]
        so_far = sa.func.sum(x).over(**w)
        third_cols += [(smaller(so_far, cap) - smaller(so_far - x, cap)).label(f"due_{k}"), s[f"alone_{k}"],
                       cap.label(f"cap_{k}")]
    return sa.select(*third_cols)


def per_claim(session: Session, counties: Sequence[str], year: int,
              schemes: Sequence[Scheme | None]) -> list[dict[str, Any]]:
    """Every claim of the base year with what each scheme pays for it (``due_<k>``, ``alone_<k>``;
    ``schemes[k]`` None: the county's stored scheme) and its annual cap (``cap_<k>``, None:
    none), claim by claim: the identity check's view."""
    p = plan(session, counties, year, schemes)
    fen = [f"{name}_{k}" for k in range(p.schemes) for name in ("due", "alone")]
    caps = [f"cap_{k}" for k in range(p.schemes)]
    return [{**row, **{key: None if row[key] is None else _yuan(row[key]) for key in fen},
             **{key: None if row[key] == NO_CAP else _yuan(row[key]) for key in caps}}
            for row in session.execute(windowed(p, claims(p))).mappings()]


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
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        # the members' years are a hash table of half a million groups: in memory, not on disk
        connection.exec_driver_sql("SET LOCAL work_mem = '256MB'")
    p = plan(session, counties, base_year, schemes)
    years = fill_years(session, p)
    try:
        rows, spent = _claim_sums(session, p)
        _by_kind_level(session, p, rows, years, results, labels)
        _members(session, years, results, labels, affected)
    finally:
        connection.exec_driver_sql(f"DROP TABLE {years.name}")
    _fund(session, counties, base_year, results, labels, per_head_financing, growth, spent)
    return [results[c] for c in counties]


def _claim_sums(session: Session, p: Plan) -> tuple[list[dict[str, Any]], dict[tuple[str, int], Decimal]]:
    """The claims of the base year per county, kind and level: their number, cost and what the
    county paid; and what the counties paid per year of settlement up to the end of the base year
    (the fund's history, ``_fund``): one pass over the claims for both, without the schemes,
    which PostgreSQL may split among parallel workers (two passes: 0.25-0.3 s more CPU at
    1,000,000 claims)."""
    settled = year_of(Claim.settlement_date).label("settled")
    of_base_year = _admitted(p).label("of_base_year")
    year_end = date(p.year, 12, 31)
    groups = session.execute(
        sa.select(Claim.county_code, Claim.kind, Institution.level, settled, of_base_year,
                  sa.func.count().label("claims"), sa.func.sum(Claim.total_amount).label("total"),
                  sa.func.sum(Claim.compensated_amount).label("paid"))
        .select_from(Claim).outerjoin(Institution, Institution.id == Claim.institution_id)
        .where(Claim.county_code.in_(p.counties), Claim.voided.is_(False),
               sa.or_(_admitted(p), Claim.settlement_date <= year_end))
        .group_by(Claim.county_code, Claim.kind, Institution.level, settled, of_base_year)).mappings().all()
    rows: dict[tuple[str, Any, Any], dict[str, Any]] = {}
    spent: dict[tuple[str, int], Decimal] = {}
    for g in groups:
        if g["of_base_year"]:
            row = rows.setdefault((g["county_code"], g["kind"], g["level"]), {
                "county_code": g["county_code"], "kind": g["kind"], "level": g["level"], "claims": 0,
                "total": Decimal(0), "paid": Decimal(0)})
            row["claims"] += g["claims"]
            row["total"] += _money(g["total"])
            row["paid"] += _money(g["paid"])
        if int(g["settled"]) <= p.year:
            key = (g["county_code"], int(g["settled"]))
            spent[key] = spent.get(key, Decimal(0)) + _money(g["paid"])
    return list(rows.values()), spent


def _by_kind_level(session: Session, p: Plan, rows: list[dict[str, Any]], years: sa.TableClause,
                   results: dict[str, CountyResult], labels: list[str]) -> None:
    """Sums per county, kind and level: the claims, their cost and what the county paid (a pass
    over the claims without the schemes, which PostgreSQL may split among parallel workers); what
    each scheme pays them alone (``years``), corrected by the window sums over the claims of the
    members whom a cap touches (a few: the others' claims are paid alone); the members reaching
    each scheme's annual cap. A scheme without terms for a county's kind and level pays none of
    its claims (``Plan.terms_of``)."""
    y = years.c
    alone: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    touched = 0
    for row in session.execute(
            sa.select(y.by_member, y.county_code, y.kind, y.level, sa.func.count().filter(y.touched).label("touched"),
                      *(sa.func.sum(y[f"due_{k}"]).label(f"due_{k}") for k in range(p.schemes)),
                      *(sa.func.count().filter(y[f"at_cap_{k}"]).label(f"at_cap_{k}") for k in range(p.schemes)))
            .group_by(y.by_member, y.county_code, y.kind, y.level)).mappings():
        if row["by_member"] == 1:
            touched += row["touched"]
            for k, label in enumerate(labels):
                results[row["county_code"]].outcomes[label].members_at_cap = row[f"at_cap_{k}"]
        else:
            alone[(row["county_code"], _value(row["kind"]) or "", _value(row["level"]))] = row
    correction: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    if touched:
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            # the few members a cap touches: their claims looked up by the member index, not
            # every claim hashed against them (0.4-0.6 s of CPU at 1,000,000 claims)
            connection.exec_driver_sql(f"ANALYZE {years.name} (touched)")
        w = windowed(p, claims(p, sa.select(y.county_code, y.member_no).where(y.touched))).subquery("touched_due")
        correction = {(row["county_code"], _value(row["kind"]) or "", _value(row["level"])): row
                      for row in session.execute(
            sa.select(w.c.county_code, w.c.kind, w.c.level,
                      *(sa.func.sum(w.c[f"due_{k}"] - sa.func.coalesce(w.c[f"alone_{k}"], 0)).label(f"less_{k}")
                        for k in range(p.schemes)))
            .group_by(w.c.county_code, w.c.kind, w.c.level)).mappings()}
    for row in rows:
        key = (row["county_code"], _value(row["kind"]) or "", _value(row["level"]))
        sums, fix = alone.get(key), correction.get(key)
        for k in range(p.schemes):
            row[f"due_{k}"] = ((_yuan(sums[f"due_{k}"]) if sums else Decimal(0).quantize(FEN))
                               + (_yuan(fix[f"less_{k}"]) if fix else Decimal(0)))
            without = (k, *key) not in p.terms_of
            row[f"noterms_{k}"] = row["claims"] if without else 0
            row[f"noterms_paid_{k}"] = row["paid"] if without else None
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


def _members(session: Session, years: sa.TableClause, results: dict[str, CountyResult], labels: list[str],
             top: int) -> None:
    """The members whose year changes most."""
    if len(labels) < 2 or top <= 0:
        return
    # each county's first ``top`` by change: a bounded sort per county (ranking all the members of
    # the province by a window sorted them all: 3.5 s at 1,000,000 claims)
    m = sa.select(years).where(years.c.by_member == 1).subquery("members")
    first = [sa.select(m).where(m.c.county_code == code).order_by(m.c.change.desc(), m.c.member_no).limit(top)
             .subquery(f"first_{i}") for i, code in enumerate(results)]
    ranked = sa.union_all(*(sa.select(f) for f in first)).subquery("ranked") if len(first) > 1 else first[0]
    chosen = session.execute(sa.select(ranked, Member.name).outerjoin(
        Member, sa.and_(Member.county_code == ranked.c.county_code, Member.member_no == ranked.c.member_no))
        .order_by(ranked.c.county_code, ranked.c.change.desc(), ranked.c.member_no)).mappings().all()
    paid: dict[tuple[str, str], Decimal] = {}
    if chosen:  # what the county paid them on the claims of the base year, as ``claims`` chooses the claims
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
          per_head: Decimal | None, growth: Decimal | None, spent: dict[tuple[str, int], Decimal]) -> None:
    """The fund of the next year: ``spent``, what the counties paid per year of settlement up to
    the end of the base year (``_claim_sums``)."""
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


__all__ = ["AFFECTED", "CURRENT", "Affected", "BalanceCheck", "CountyResult", "Outcome", "Plan", "claims",
           "fill_years", "per_claim", "plan", "simulate", "windowed"]
