"""The indicators as flat rows, for the command line, CSV and JSON (and the reports and API):
one ordered mapping of field name to value per county and for the total."""
from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from operator import attrgetter
from typing import Any

from ncms.models import ClaimKind, FundingSource, InstitutionLevel

from .figures import Indicators

Getter = Callable[[Indicators], Any]


def _claims(figure: str, kind: ClaimKind | None = None, level: InstitutionLevel | None = None) -> Getter:
    """A figure of the claims of a kind and a level (None: all)."""
    return lambda x: getattr(x.claims(kind, level), figure)


def _financing(source: FundingSource) -> Getter:
    return lambda x: x.financing.get(source, Decimal("0.00"))


def _same(*names: str) -> list[tuple[str, str]]:
    """Fields named as the attribute they read."""
    return [(name, name) for name in names]


def _county(x: Indicators) -> str:
    return x.county_codes[0] if len(x.county_codes) == 1 else "total"


def _fields() -> list[tuple[str, Getter]]:
    """Each field with its getter: a callable, or the (dotted) attribute of ``Indicators`` it reads."""
    inpatient, outpatient = ClaimKind.INPATIENT, ClaimKind.OUTPATIENT
    table: list[tuple[str, Getter | str]] = [
        ("period", "period.label"), ("county", _county),
        *_same("name", "members", "households", "agricultural_population", "participation_rate"),
        *((f"financing_{s.value}", _financing(s)) for s in FundingSource),
        ("financing", "financing_total"), ("compensation", "compensation"),
        ("compensation_inpatient", "inpatient.compensated_amount"),
        ("compensation_outpatient", "outpatient.compensated_amount"),
        *_same("year_financing", "paid_to_date", "fund_usage_rate", "elapsed_share", "surplus_rate",
              "cumulative_balance", "cumulative_surplus_rate"),
        ("fund_warning", "warning_state"), ("visits", "outpatient.claims"), ("stays", "inpatient.claims"),
        ("compensated_visits", _claims("compensated_claims")),
        *_same("benefit_rate", "hospitalisation_rate"),
        ("total_cost", _claims("total_amount")), ("out_of_pocket", _claims("out_of_pocket")),
        ("cost_per_stay", "inpatient.cost_per_claim"), ("compensation_per_stay", "inpatient.compensation_per_claim"),
        ("average_stay_days", "inpatient.average_stay"), ("cost_per_visit", "outpatient.cost_per_claim"),
        ("actual_compensation_ratio", _claims("actual_compensation_ratio")),
        ("actual_compensation_ratio_inpatient", "inpatient.actual_compensation_ratio"),
        ("policy_reimbursement_ratio", _claims("policy_reimbursement_ratio")),
        ("policy_reimbursement_ratio_inpatient", "inpatient.policy_reimbursement_ratio"),
        ("out_of_county_stay_share", "inpatient.out_of_county_share"),
    ]
    for level in InstitutionLevel:
        table += [(f"stays_{level.value}", _claims("claims", inpatient, level)),
                  (f"cost_per_stay_{level.value}", _claims("cost_per_claim", inpatient, level)),
                  (f"actual_compensation_ratio_{level.value}", _claims("actual_compensation_ratio", inpatient, level)),
                  (f"compensation_outpatient_{level.value}", _claims("compensated_amount", outpatient, level))]
    table += [("findings", "findings"), ("findings_undecided", "undecided"), ("findings_confirmed", "confirmed"),
              ("findings_dismissed", "dismissed"), ("money_at_stake", "money_at_stake"),
              ("money_confirmed", "confirmed_money")]
    return [(name, attrgetter(get) if isinstance(get, str) else get) for name, get in table]


FIELDS = _fields()
FIELD_NAMES = [name for name, _ in FIELDS]


def as_row(figures: Indicators) -> dict[str, Any]:
    """Every indicator of ``figures`` by field name, in ``FIELD_NAMES`` order."""
    return {name: get(figures) for name, get in FIELDS}
