"""The indicators as flat rows, for the command line, CSV and JSON (and the reports and API):
one ordered mapping of field name to value per county and for the total."""
from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ncms.models import ClaimKind, FundingSource, InstitutionLevel

from .figures import Indicators

Getter = Callable[[Indicators], Any]


def _fields() -> list[tuple[str, Getter]]:
    inpatient, outpatient = ClaimKind.INPATIENT, ClaimKind.OUTPATIENT
    out: list[tuple[str, Getter]] = [
        ("period", lambda x: x.period.label),
        ("county", lambda x: x.county_codes[0] if len(x.county_codes) == 1 else "total"),
        ("name", lambda x: x.name),
        ("members", lambda x: x.members),
        ("households", lambda x: x.households),
        ("agricultural_population", lambda x: x.agricultural_population),
        ("participation_rate", lambda x: x.participation_rate),
        *((f"financing_{s.value}", (lambda s: lambda x: x.financing.get(s, Decimal("0.00")))(s))
          for s in FundingSource),
        ("financing", lambda x: x.financing_total),
        ("compensation", lambda x: x.compensation),
        ("compensation_inpatient", lambda x: x.inpatient.compensated_amount),
        ("compensation_outpatient", lambda x: x.outpatient.compensated_amount),
        ("year_financing", lambda x: x.year_financing),
        ("paid_to_date", lambda x: x.paid_to_date),
        ("fund_usage_rate", lambda x: x.fund_usage_rate),
        ("elapsed_share", lambda x: x.elapsed_share),
        ("surplus_rate", lambda x: x.surplus_rate),
        ("cumulative_balance", lambda x: x.cumulative_balance),
        ("cumulative_surplus_rate", lambda x: x.cumulative_surplus_rate),
        ("fund_warning", lambda x: x.warning_state),
        ("visits", lambda x: x.outpatient.claims),
        ("stays", lambda x: x.inpatient.claims),
        ("compensated_visits", lambda x: x.claims().compensated_claims),
        ("benefit_rate", lambda x: x.benefit_rate),
        ("hospitalisation_rate", lambda x: x.hospitalisation_rate),
        ("total_cost", lambda x: x.claims().total_amount),
        ("out_of_pocket", lambda x: x.claims().out_of_pocket),
        ("cost_per_stay", lambda x: x.inpatient.cost_per_claim),
        ("compensation_per_stay", lambda x: x.inpatient.compensation_per_claim),
        ("average_stay_days", lambda x: x.inpatient.average_stay),
        ("cost_per_visit", lambda x: x.outpatient.cost_per_claim),
        ("actual_compensation_ratio", lambda x: x.claims().actual_compensation_ratio),
        ("actual_compensation_ratio_inpatient", lambda x: x.inpatient.actual_compensation_ratio),
        ("policy_reimbursement_ratio", lambda x: x.claims().policy_reimbursement_ratio),
        ("policy_reimbursement_ratio_inpatient", lambda x: x.inpatient.policy_reimbursement_ratio),
        ("out_of_county_stay_share", lambda x: x.inpatient.out_of_county_share),
    ]
    for level in InstitutionLevel:
        out += [(f"stays_{level.value}", (lambda lv: lambda x: x.claims(inpatient, lv).claims)(level)),
                (f"cost_per_stay_{level.value}", (lambda lv: lambda x: x.claims(inpatient, lv).cost_per_claim)(level)),
                (f"actual_compensation_ratio_{level.value}",
                 (lambda lv: lambda x: x.claims(inpatient, lv).actual_compensation_ratio)(level)),
                (f"compensation_outpatient_{level.value}",
                 (lambda lv: lambda x: x.claims(outpatient, lv).compensated_amount)(level))]
    out += [
        ("findings", lambda x: x.findings),
        ("findings_undecided", lambda x: x.undecided),
        ("findings_confirmed", lambda x: x.confirmed),
        ("findings_dismissed", lambda x: x.dismissed),
        ("money_at_stake", lambda x: x.money_at_stake),
        ("money_confirmed", lambda x: x.confirmed_money),
    ]
    return out


FIELDS = _fields()
FIELD_NAMES = [name for name, _ in FIELDS]


def as_row(figures: Indicators) -> dict[str, Any]:
    """Every indicator of ``figures`` by field name, in ``FIELD_NAMES`` order."""
    return {name: get(figures) for name, get in FIELDS}
