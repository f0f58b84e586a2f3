"""Money at stake, each yuan counted once; the fund warnings' figures apart from it.

Several findings may hold for the same money: a stay billed twice is a duplicate claim, and
the copy may also overlap a third stay, bill a restricted item, push its member over the
annual cap and weigh in its institution's anomalous month. Every total of money at stake (a
run's, per rule, per county, per institution, the province's) is read through ``counted``,
one query over the findings, which gives each finding the money it adds:

- a claim's money is that of the one finding that explains it: the first of its rules in
  ``PRECEDENCE`` (whole claims that should never have been paid before parts of claims paid
  or billed too much); the claim's other findings add nothing. Per rule, a claim counts under
  the rule that explains it;
- a member's finding (``cap_breach``) adds what it finds beyond the money already counted on
  that member's claims of the year, and an institution's (the anomaly model) beyond the money
  counted on the institution's claims admitted in its months; an enrolment's (the subsidy of
  ``duplicate_enrolment``) adds all of it: no claim pays it;
- a fund warning (the rules of the basis "fund years") is a projection of the fund, not money
  misused: it adds nothing, and ``Stake.fund`` reports it per rule instead; nor does any other
  rule that judges a county whole (``APART``: a gap in the scheme's terms is a data-quality
  finding, its amount the compensation no rule could judge).

docs/rules.md states these (rendered from this module by ``ncms.monitor.doc``).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ncms.models import Claim, Finding, FindingStatus

from .catalogue import CATALOGUE, FUND_YEARS, larger, year_of

# the claim rules in the order in which one explains a claim: a copy before any other story of
# it (a copy of a stay is a duplicate, not an overlap); then claims nobody should have been paid
# for, the person's or the stay's; then parts of a claim paid above the scheme, then billed
# above the catalogue. A claim rule not listed comes after these, by its code.
PRECEDENCE: tuple[str, ...] = (
    "duplicate_claim", "not_enrolled", "care_after_death", "overlapping_stays", "outpatient_during_stay",
    "split_admission", "ghost_stay", "low_standard_admission", "sex_restricted_diagnosis",
    "age_restricted_diagnosis", "missing_referral", "overpayment", "over_standard_price", "excess_quantity",
    "sex_restricted_item", "age_restricted_item")
# the rules that judge a county whole (its fund, its scheme's terms), not claims: their amounts
# are no money at stake; those of the fund warnings are reported as the fund's figures
APART: frozenset[str] = frozenset(rule.code for rule in CATALOGUE if rule.whole_county)
FUND_RULES: frozenset[str] = frozenset(rule.code for rule in CATALOGUE if rule.basis == FUND_YEARS)
# how each fund warning reads in a run's summary: "N counties <words> X yuan"
FUND_WORDS = {"fund_overspend": "projected short by", "fund_surplus": "projected to keep, above the limit,",
              "fund_cumulative_surplus": "carrying, above the limit,"}
ZERO = Decimal("0.00")


@dataclass
class Stake:
    """Money at stake, counted once, and the fund warnings apart."""

    total: Decimal = ZERO
    per_rule: dict[str, Decimal] = field(default_factory=dict)
    per_county: dict[str, Decimal] = field(default_factory=dict)
    per_institution: dict[int, Decimal] = field(default_factory=dict)
    explained: int = 0  # findings whose money another finding already counts, in whole or in part
    fund: dict[str, tuple[int, Decimal]] = field(default_factory=dict)  # per fund rule: counties, yuan
    fund_counties: dict[str, list[str]] = field(default_factory=dict)  # per fund rule: the counties warned


def holding() -> list[sa.ColumnElement[bool]]:
    """The findings whose money is at stake now: they hold and no auditor dismissed them (one
    with the county that a rerun found no longer holds counts no more, until it holds again)."""
    return [Finding.status.not_in((FindingStatus.CLOSED, FindingStatus.DISMISSED)),
            Finding.stopped_holding_at.is_(None)]


def counted(*where: Any) -> sa.Select:
    """SELECT of the findings meeting ``where``: ``id``, ``rule_code``, ``county_code``,
    ``institution_id``, ``amount`` (the finding's own) and ``counted`` (what it adds to money
    at stake once the others among them are counted)."""
    f = (sa.select(Finding.id, Finding.rule_code, Finding.subject_key, Finding.county_code, Finding.claim_id,
                   Finding.institution_id, Finding.amount_at_stake.label("amount"), Finding.period_start,
                   Finding.period_end).where(*where).cte("findings"))
    rank = sa.case(*((f.c.rule_code == code, n) for n, code in enumerate(PRECEDENCE)), else_=len(PRECEDENCE))
    place = (sa.select(f.c.id, sa.func.row_number().over(partition_by=f.c.claim_id,
                                                         order_by=(rank, f.c.rule_code, f.c.id)).label("place"))
             .where(f.c.claim_id.is_not(None), f.c.rule_code.not_in(APART)).cte("claim_place"))
    # each claim's money once: the amount of the finding that explains it
    claims = (sa.select(Claim.id, Claim.county_code, Claim.member_no, Claim.institution_id, Claim.admission_date,
                        f.c.amount)
              .select_from(f).join(place, place.c.id == f.c.id).join(Claim, Claim.id == f.c.claim_id)
              .where(place.c.place == 1).cte("claim_money"))
    member_key = (sa.literal("member:") + claims.c.county_code + sa.literal(":") + claims.c.member_no
                  + sa.literal(":") + sa.cast(year_of(claims.c.admission_date), sa.String))
    # CAST: a concatenation has no type affinity, and SQLite will not index a text column's
    # comparison with it, so it read every member total for every finding (100,000 findings:
    # 33.6 s; with the cast, and no LIKE beside the key in the join, 0.7 s). A claim's or an
    # institution's subject key can never equal a member's, so the key alone joins them.
    by_member = (sa.select(sa.cast(member_key, sa.String).label("key"), sa.func.sum(claims.c.amount).label("money"))
                 .group_by(member_key).subquery("member_money"))
    institution = f.alias("institution_findings")
    by_institution = (sa.select(institution.c.id, sa.func.sum(claims.c.amount).label("money"))
                      .join(claims, sa.and_(claims.c.institution_id == institution.c.institution_id,
                                            claims.c.admission_date.between(institution.c.period_start,
                                                                            institution.c.period_end)))
                      .where(institution.c.subject_key.like("institution:%"))
                      .group_by(institution.c.id).subquery("institution_money"))
    beyond = sa.func.coalesce(by_member.c.money, by_institution.c.money, 0)
    adds = sa.case((f.c.rule_code.in_(APART), ZERO),
                   (f.c.claim_id.is_not(None), sa.case((place.c.place == 1, f.c.amount), else_=ZERO)),
                   else_=larger(f.c.amount - beyond, ZERO))
    return (sa.select(f.c.id, f.c.rule_code, f.c.county_code, f.c.institution_id, f.c.amount,
                      sa.type_coerce(adds, Finding.amount_at_stake.type).label("counted"))
            .outerjoin(place, place.c.id == f.c.id)
            .outerjoin(by_member, by_member.c.key == f.c.subject_key)
            .outerjoin(by_institution, by_institution.c.id == f.c.id))


def money_at_stake(conn: sa.Connection | Any, *where: Any) -> Stake:
    """The money at stake of the findings meeting ``where`` (default: those ``holding``), per
    rule, county and institution, each yuan once; and the fund warnings' figures apart."""
    rows = counted(*(where or holding())).subquery("counted")
    stake = Stake()
    for rule, county, institution, amount, adds, n, short in conn.execute(
            sa.select(rows.c.rule_code, rows.c.county_code, rows.c.institution_id, sa.func.sum(rows.c.amount),
                      sa.func.sum(rows.c.counted), sa.func.count(),
                      sa.func.sum(sa.case((rows.c.counted < rows.c.amount, 1), else_=0)))
            .group_by(rows.c.rule_code, rows.c.county_code, rows.c.institution_id)):
        adds, amount = _money(adds), _money(amount)
        if rule in APART:
            if rule in FUND_RULES:
                counties, total = stake.fund.get(rule, (0, ZERO))
                stake.fund[rule] = (counties + 1, total + amount)  # one group per county: fund findings name none
                stake.fund_counties.setdefault(rule, []).append(county)
            continue
        stake.total += adds
        stake.explained += int(short or 0)
        _add(stake.per_rule, rule, adds)
        _add(stake.per_county, county, adds)
        if institution is not None:
            _add(stake.per_institution, institution, adds)
    return stake


def fund_lines(fund: dict[str, tuple[int, Decimal]]) -> Iterable[str]:
    """The fund warnings as a run's summary says them, one line per rule that holds."""
    for rule, (counties, amount) in fund.items():
        words = FUND_WORDS.get(rule, f"flagged by {rule} for")
        yield f"fund: {counties:,} {'county' if counties == 1 else 'counties'} {words} {amount:,.2f} yuan ({rule})"


def _add(totals: dict[Any, Decimal], key: Any, amount: Decimal) -> None:
    totals[key] = totals.get(key, ZERO) + amount


def _money(value: Any) -> Decimal:
    """A sum as money (SQLite sums a CASE as a float)."""
    return Decimal(str(value or 0)).quantize(ZERO)
