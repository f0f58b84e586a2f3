"""What a county's compensation scheme (补偿方案) gives a claim, step by step (domain.md §1).

The supervision rules judge compensation set-based in SQL (``overpayment``, ``missing_referral``
and ``cap_breach`` in ``ncms.monitor.catalogue``); this module computes the same figures for one
claim at a time, each step named, so that a page can show the scheme's arithmetic beside what was
paid, and a scheme simulation can apply another scheme, read from a file, to the same claims::

    above    = max(0, eligible - deductible)
    share    = round(above * max(0, ratio - cut), 2)  cut: an unreferred stay at a level with one
    claim    = min(share, per_visit_cap)              where the level has one
    due      = min(claim, outpatient cap left, annual cap left)   left: the cap less what the
                                                      member received earlier that year

The rules' arithmetic differs by database: PostgreSQL's is exact (``arithmetic="exact"``);
SQLite holds money as binary floats, so a share a hair under half a fen rounds down where the
exact share rounds up (``arithmetic="sqlite"`` follows it). ``recompute_claim`` follows the
database it reads. docs/compensation.md has a worked example.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from ncms.models import Claim, ClaimKind, CompensationScheme, Institution, InstitutionLevel
from ncms.monitor.catalogue import NO_SCHEME, NO_TERMS

__all__ = ["NO_INSTITUTION", "NO_SCHEME", "NO_TERMS", "ClaimFacts", "Computation", "Scheme", "Step", "Terms",
           "compensate", "recompute_claim", "scheme_from_config", "terms_for", "used_before"]

Arithmetic = Literal["exact", "sqlite"]
FEN = Decimal("0.01")
ZERO = Decimal("0.00")
# a claim whose institution is not on the register: no level, so no terms (the rules pass it over)
NO_INSTITUTION = "the institution is not on the register"


@dataclass(frozen=True)
class Terms:
    """One kind of care at one institution level: deductible (起付线), ratio (报销比例), per-visit
    cap (单次封顶, None: none) and the ratio points an unreferred admission loses (0: none)."""

    kind: ClaimKind
    level: InstitutionLevel
    deductible: Decimal
    ratio: Decimal
    per_visit_cap: Decimal | None = None
    unreferred_ratio_cut: Decimal = Decimal("0")


@dataclass(frozen=True)
class Scheme:
    """A county's scheme of a year, detached from any session: from the database (``terms_for``)
    or from a ``schemes.yaml`` entry (``scheme_from_config``)."""

    county_code: str
    year: int
    annual_cap: Decimal
    outpatient_annual_cap: Decimal | None = None
    referral_required: bool = True
    terms: tuple[Terms, ...] = ()

    def terms_of(self, kind: ClaimKind, level: InstitutionLevel) -> Terms | None:
        return next((t for t in self.terms if t.kind == kind and t.level == level), None)

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> Scheme:
        """From a scheme as ``CompensationScheme`` holds it, or as ``read_reference`` reads it."""
        return cls(county_code=values["county_code"], year=int(values["year"]), annual_cap=values["annual_cap"],
                   outpatient_annual_cap=values.get("outpatient_annual_cap"),
                   referral_required=bool(values.get("referral_required", True)),
                   terms=tuple(Terms(kind=lv["kind"], level=lv["level"], deductible=lv["deductible"],
                                     ratio=lv["ratio"], per_visit_cap=lv.get("per_visit_cap"),
                                     unreferred_ratio_cut=lv.get("unreferred_ratio_cut") or Decimal("0"))
                               for lv in values["levels"]))

    @classmethod
    def from_model(cls, scheme: CompensationScheme) -> Scheme:
        columns = ("kind", "level", "deductible", "ratio", "per_visit_cap", "unreferred_ratio_cut")
        return cls.from_values(dict(
            county_code=scheme.county_code, year=scheme.year, annual_cap=scheme.annual_cap,
            outpatient_annual_cap=scheme.outpatient_annual_cap, referral_required=scheme.referral_required,
            levels=[{c: getattr(lv, c) for c in columns} for lv in scheme.levels]))


def scheme_from_config(entry: dict[str, Any], where: str = "scheme") -> Scheme:
    """A scheme written as an entry of ``config/schemes.yaml`` (a candidate scheme, say), checked
    as ``ncms db load-config`` checks it: a mistake raises ConfigError naming ``where``."""
    from ncms.reference import _scheme  # the one reader of a scheme entry

    return Scheme.from_values(_scheme(where, entry, {str(entry.get("county"))}))


def terms_for(session: Session, county_code: str, year: int) -> Scheme | None:
    """The county's scheme for the year of care, or None when it has none."""
    scheme = session.scalar(sa.select(CompensationScheme).options(selectinload(CompensationScheme.levels))
                            .where(CompensationScheme.county_code == county_code, CompensationScheme.year == year))
    return None if scheme is None else Scheme.from_model(scheme)


@dataclass(frozen=True)
class ClaimFacts:
    """What of a claim the scheme reads. ``level``: its institution's (None: not on the register)."""

    kind: ClaimKind
    level: InstitutionLevel | None
    eligible_amount: Decimal
    referral: bool
    compensated_amount: Decimal = ZERO  # what the county paid
    total_amount: Decimal | None = None

    @classmethod
    def of(cls, claim: Claim, level: InstitutionLevel | None) -> ClaimFacts:
        return cls(kind=claim.kind, level=level, eligible_amount=claim.eligible_amount, referral=claim.referral,
                   compensated_amount=claim.compensated_amount, total_amount=claim.total_amount)


@dataclass(frozen=True)
class Step:
    """One line of the computation: ``value`` is the figure the label names (yuan, or a ratio
    when ``unit`` is "ratio"); ``note`` the arithmetic behind it, in figures only."""

    key: str
    label_en: str
    label_zh: str
    value: Decimal
    note: str = ""
    unit: Literal["yuan", "ratio"] = "yuan"


@dataclass(frozen=True)
class Computation:
    """What the scheme gives a claim, and how. When the scheme cannot judge the claim
    (``unchecked_reason``: the reasons of ``rule_run.unchecked_reasons``) the amounts are None.

    ``referred_due``: the claim alone at the full ratio (what ``overpayment`` compares the payment
    with); ``claim_due``: the claim alone with any referral cut (``missing_referral``'s); ``due``:
    after the annual caps too. ``difference``: paid less due (above zero: paid too much)."""

    steps: tuple[Step, ...]
    paid: Decimal
    due: Decimal | None = None
    claim_due: Decimal | None = None
    referred_due: Decimal | None = None
    unchecked_reason: str | None = None

    @property
    def difference(self) -> Decimal | None:
        return None if self.due is None else self.paid - self.due

    def step(self, key: str) -> Step | None:
        return next((s for s in self.steps if s.key == key), None)


def compensate(facts: ClaimFacts, scheme: Scheme | None, *, used_this_year: Decimal = ZERO,
               used_outpatient_this_year: Decimal = ZERO, arithmetic: Arithmetic = "exact") -> Computation:
    """What ``scheme`` gives the claim, given what the member received earlier in the scheme's year
    (all care, and outpatient care alone), step by step."""
    paid = facts.compensated_amount
    steps = [Step("eligible", "Eligible (within-policy) cost", "政策范围内费用", facts.eligible_amount,
                  "" if facts.total_amount is None else f"total {facts.total_amount}")]
    if facts.level is None or scheme is None:
        return Computation(tuple(steps), paid, unchecked_reason=NO_INSTITUTION if facts.level is None else NO_SCHEME)
    terms = scheme.terms_of(facts.kind, facts.level)
    if terms is None:
        return Computation(tuple(steps), paid, unchecked_reason=NO_TERMS)
    cut = (terms.unreferred_ratio_cut if scheme.referral_required and not facts.referral
           and terms.unreferred_ratio_cut > 0 else None)
    claim_steps, claim_due = _claim_alone(facts, terms, cut, arithmetic)
    steps += claim_steps
    amount = claim_due
    if facts.kind == ClaimKind.OUTPATIENT and scheme.outpatient_annual_cap is not None:
        amount, step = _cap_left("outpatient_cap_left", "Outpatient annual cap left", "门诊年度封顶线余额",
                                 scheme.outpatient_annual_cap, used_outpatient_this_year, amount)
        steps.append(step)
    due, step = _cap_left("annual_cap_left", "Annual cap left", "年度封顶线余额", scheme.annual_cap,
                          used_this_year, amount)
    steps += [step, Step("due", "Compensation due", "应补偿金额", due),
              Step("paid", "Compensation paid", "实际补偿金额", paid),
              Step("difference", "Paid above what is due", "多付金额", paid - due, f"{paid} - {due}")]
    referred = claim_due if cut is None else _per_visit(_share(facts.eligible_amount, terms, None, arithmetic), terms)
    return Computation(tuple(steps), paid, due=due, claim_due=claim_due, referred_due=referred)


def _claim_alone(facts: ClaimFacts, terms: Terms, cut: Decimal | None,
                 arithmetic: Arithmetic) -> tuple[list[Step], Decimal]:
    """The steps of the claim alone, before the annual caps, and what they give."""
    above = max(facts.eligible_amount - terms.deductible, ZERO)
    share = _share(facts.eligible_amount, terms, cut, arithmetic)
    steps = [Step("deductible", "Deductible", "起付线", terms.deductible, f"{facts.kind.value}, {terms.level.value}"),
             Step("above_deductible", "Cost above the deductible", "起付线以上费用", above,
                  f"max(0, {facts.eligible_amount} - {terms.deductible})"),
             Step("ratio", "Compensation ratio", "报销比例", terms.ratio, unit="ratio")]
    ratio = terms.ratio
    if cut is not None:
        ratio = terms.ratio - cut
        steps.append(Step("referral_cut", "Cut for an admission without referral", "未转诊降低比例", cut,
                          f"{terms.ratio} - {cut} = {ratio}", unit="ratio"))
    steps.append(Step("share", "Share at the ratio", "按比例补偿", share,
                      f"round({above} × {max(ratio, Decimal(0))}, 2)"))
    claim_due = _per_visit(share, terms)
    if terms.per_visit_cap is not None:
        steps.append(Step("per_visit_cap", "Per-visit cap", "单次封顶线", terms.per_visit_cap,
                          f"min({share}, {terms.per_visit_cap}) = {claim_due}"))
    return steps, claim_due


def _cap_left(key: str, label_en: str, label_zh: str, cap: Decimal, used: Decimal,
              amount: Decimal) -> tuple[Decimal, Step]:
    left = max(cap - used, ZERO)
    capped = min(amount, left)
    return capped, Step(key, label_en, label_zh, left, f"max(0, {cap} - {used}); min({amount}, {left}) = {capped}")


def _per_visit(share: Decimal, terms: Terms) -> Decimal:
    return share if terms.per_visit_cap is None else min(share, terms.per_visit_cap)


def _share(eligible: Decimal, terms: Terms, cut: Decimal | None, arithmetic: Arithmetic) -> Decimal:
    """``round(max(eligible - deductible, 0) * max(ratio - cut, 0), 2)`` as the rules' database
    computes it: exactly, half away from zero (PostgreSQL's numeric), or in binary floats (SQLite)."""
    if arithmetic == "exact":
        share = max(eligible - terms.deductible, ZERO) * max(terms.ratio - (cut or 0), Decimal(0))
        return share.quantize(FEN, rounding=ROUND_HALF_UP)
    rate = float(terms.ratio) if cut is None else float(terms.ratio) - float(cut)
    return sqlite_round_fen(max(float(eligible) - float(terms.deductible), 0.0) * max(rate, 0.0))


_HALF_FEN, _NUDGE = Decimal(0.005), Decimal(3e-16)  # SQLite's binary constants, exactly


def sqlite_round_fen(value: float) -> Decimal:
    """SQLite's ``round(value, 2)`` of a value of zero or more: its printf adds half a fen and,
    below 15 significant digits, a nudge of 3e-16 of the value, then cuts after the second decimal
    (so 2.675, a binary hair under, gives 2.68; a product a few units of the last place under half
    a fen rounds down). tests/test_compensation.py checks it against the SQLite in use."""
    exact = Decimal(value)
    return (exact + _HALF_FEN + exact * _NUDGE).quantize(FEN, rounding=ROUND_DOWN)


def used_before(session: Session, claim: Claim) -> tuple[Decimal, Decimal]:
    """What the claim's member received in the claim's year of care before it, all care and
    outpatient care alone: claims not voided, settled earlier (the same day: lower claim id)."""
    year = claim.admission_date.year
    earlier = sa.or_(Claim.settlement_date < claim.settlement_date,
                     sa.and_(Claim.settlement_date == claim.settlement_date, Claim.source_id < claim.source_id))
    rows = session.execute(
        sa.select(Claim.kind, Claim.compensated_amount)
        .where(Claim.county_code == claim.county_code, Claim.member_no == claim.member_no,
               Claim.voided.is_(False), Claim.id != claim.id, earlier,
               Claim.admission_date.between(date(year, 1, 1), date(year, 12, 31)))).all()
    outpatient = sum((paid for kind, paid in rows if kind == ClaimKind.OUTPATIENT), ZERO)
    return sum((paid for _, paid in rows), ZERO), outpatient


def recompute_claim(session: Session, claim: Claim) -> Computation:
    """The claim's compensation recomputed from its county's scheme for its year of care, beside
    what was paid, in the arithmetic of the database the session reads."""
    level = session.scalar(sa.select(Institution.level).where(Institution.id == claim.institution_id))
    scheme = terms_for(session, claim.county_code, claim.admission_date.year)
    used, used_outpatient = used_before(session, claim)
    arithmetic: Arithmetic = "sqlite" if session.get_bind().dialect.name == "sqlite" else "exact"
    return compensate(ClaimFacts.of(claim, level), scheme, used_this_year=used,
                      used_outpatient_this_year=used_outpatient, arithmetic=arithmetic)
