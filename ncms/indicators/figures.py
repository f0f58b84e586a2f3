"""The indicators of domain.md §4, per county and for any set of counties (the province).

Each county's figures are sums read from the summary tables; a set of counties adds them up
(``Indicators.__add__``) and every rate is a property computed from the sums it holds, so the
province's rate is recomputed from the province's sums, never an average of the counties'.
docs/indicators.md defines each one: numerator, denominator, which claims, which date decides
the period, units and rounding."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ncms.models import ClaimKind, FundingSource, InstitutionLevel

from .period import Period

ZERO = Decimal("0.00")
RATE = Decimal("0.0001")  # rates: four decimals (12.34 %)
CENT = Decimal("0.01")


def rate(numerator: Decimal | int, denominator: Decimal | int | None) -> Decimal | None:
    """numerator / denominator to four decimals (half up); None where the denominator is none."""
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE, ROUND_HALF_UP)


def per(amount: Decimal, count: int) -> Decimal | None:
    """Yuan per case, to the fen (half up); None with no case."""
    return (amount / count).quantize(CENT, ROUND_HALF_UP) if count else None


@dataclass
class ClaimFigures:
    """Claims of one kind of care (at one level, or all), settled in the period, voided ones out."""

    claims: int = 0  # visits or stays (人次)
    compensated_claims: int = 0  # with some compensation (补偿人次)
    out_of_county: int = 0
    referred: int = 0
    bed_days: int = 0
    total_amount: Decimal = ZERO  # 医疗总费用
    eligible_amount: Decimal = ZERO  # 政策范围内费用
    compensated_amount: Decimal = ZERO  # 补偿金额

    def __add__(self, other: "ClaimFigures") -> "ClaimFigures":
        return ClaimFigures(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    @property
    def out_of_pocket(self) -> Decimal:
        return self.total_amount - self.compensated_amount

    @property
    def cost_per_claim(self) -> Decimal | None:  # 次均费用 (a stay's: 次均住院费用)
        return per(self.total_amount, self.claims)

    @property
    def compensation_per_claim(self) -> Decimal | None:  # 次均补偿
        return per(self.compensated_amount, self.claims)

    @property
    def actual_compensation_ratio(self) -> Decimal | None:  # 实际补偿比
        return rate(self.compensated_amount, self.total_amount)

    @property
    def policy_reimbursement_ratio(self) -> Decimal | None:  # 政策范围内报销比
        return rate(self.compensated_amount, self.eligible_amount)

    @property
    def out_of_county_share(self) -> Decimal | None:
        return rate(self.out_of_county, self.claims)

    @property
    def average_stay(self) -> Decimal | None:  # 平均住院日 (stays)
        return per(Decimal(self.bed_days), self.claims)


@dataclass
class FundWarning:
    """A fund early warning that holds (a finding of the monitor's fund rules, docs/rules.md):
    the rule, the amount it names and the projection it was raised on."""

    county_code: str
    rule_code: str
    amount: Decimal
    projected: Decimal | None
    status: str


@dataclass
class Indicators:
    """A county's (or, added up, a set of counties') indicators for one period. Money in yuan
    (Decimal, two decimals, as the models keep it); rates as Decimal fractions, four decimals;
    None where a rate's denominator is nothing."""

    period: Period
    county_codes: tuple[str, ...] = ()
    name: str = ""
    # enrolment, of the period's year
    members: int = 0
    households: int = 0
    contributions: Decimal = ZERO
    agricultural_population: int | None = 0
    # financing raised in the period's months, by source
    financing: dict[FundingSource, Decimal] = field(default_factory=dict)
    # claims settled in the period: by (kind, level)
    by_level: dict[tuple[ClaimKind, InstitutionLevel], ClaimFigures] = field(default_factory=dict)
    # the fund, in the period's year up to the period's end
    year_financing: Decimal = ZERO  # raised for the whole year
    paid_to_date: Decimal = ZERO  # compensation settled from 1 January to the period's end
    months_reached: int = 0  # the last month up to the period's end with a claim settled (the run rate's divisor)
    financing_to_date: Decimal = ZERO  # raised for every year up to the period's (the cumulative balance)
    paid_before_year: Decimal = ZERO  # compensation settled in the years before
    warnings: list[FundWarning] = field(default_factory=list)
    # supervision: findings about care in the period (the month of their period's start)
    findings: int = 0
    undecided: int = 0
    confirmed: int = 0
    dismissed: int = 0
    money_at_stake: Decimal = ZERO  # holding findings, each claim's money once
    confirmed_money: Decimal = ZERO

    def __add__(self, other: "Indicators") -> "Indicators":
        if other.period != self.period:
            raise ValueError(f"indicators of {self.period} and {other.period} do not add up")
        summed: dict[str, Any] = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name in ("period", "name"):
                summed[f.name] = mine if f.name == "period" else ""
            elif f.name == "agricultural_population":
                summed[f.name] = None if mine is None or theirs is None else mine + theirs
            elif f.name == "months_reached":
                summed[f.name] = max(mine, theirs)
            elif isinstance(mine, dict):
                summed[f.name] = {k: mine.get(k, ZERO if f.name == "financing" else ClaimFigures())
                                  + theirs.get(k, ZERO if f.name == "financing" else ClaimFigures())
                                  for k in {**mine, **theirs}}
            else:
                summed[f.name] = mine + theirs
        return Indicators(**summed)

    # -- claims ------------------------------------------------------------------------
    def claims(self, kind: ClaimKind | None = None, level: InstitutionLevel | None = None) -> ClaimFigures:
        """The claims of a kind and a level (None: all)."""
        total = ClaimFigures()
        for (k, lv), figures in self.by_level.items():
            if (kind is None or k == kind) and (level is None or lv == level):
                total = total + figures
        return total

    @property
    def inpatient(self) -> ClaimFigures:
        return self.claims(ClaimKind.INPATIENT)

    @property
    def outpatient(self) -> ClaimFigures:
        return self.claims(ClaimKind.OUTPATIENT)

    @property
    def compensation(self) -> Decimal:  # 补偿支出
        return self.claims().compensated_amount

    @property
    def financing_total(self) -> Decimal:
        return sum(self.financing.values(), ZERO)

    # -- enrolment and benefit ------------------------------------------------------------
    @property
    def participation_rate(self) -> Decimal | None:  # 参合率
        return rate(self.members, self.agricultural_population)

    @property
    def benefit_rate(self) -> Decimal | None:  # 受益率: compensated visits per member
        return rate(self.claims().compensated_claims, self.members)

    @property
    def hospitalisation_rate(self) -> Decimal | None:  # 住院率: stays per member
        return rate(self.inpatient.claims, self.members)

    # -- the fund --------------------------------------------------------------------------
    @property
    def fund_usage_rate(self) -> Decimal | None:  # 基金使用率, year to the period's end
        return rate(self.paid_to_date, self.year_financing)

    @property
    def elapsed_share(self) -> Decimal | None:
        """The share of the year the compensation so far covers (months reached / 12), which the
        usage rate is held against."""
        return rate(self.months_reached, 12) if self.months_reached else None

    @property
    def surplus_rate(self) -> Decimal | None:  # 当年结余率
        return rate(self.year_financing - self.paid_to_date, self.year_financing)

    @property
    def cumulative_balance(self) -> Decimal:
        return self.financing_to_date - self.paid_before_year - self.paid_to_date

    @property
    def cumulative_surplus_rate(self) -> Decimal | None:  # 累计结余率
        return rate(self.cumulative_balance, self.year_financing)

    @property
    def warning_state(self) -> str:
        """``deficit`` (a fund heading for one), ``surplus`` (hoarding, this year or carried),
        ``none``: from the fund early-warning findings that hold."""
        rules = {w.rule_code for w in self.warnings}
        return "deficit" if "fund_overspend" in rules else "surplus" if rules else "none"
