"""The comparison of a simulation as rows (a figure a row, a scheme a column): what the command
line prints and the page shows (docs/simulation.md, "Every figure")."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .simulate import CountyResult

KINDS = {"inpatient": ("inpatient", "住院"), "outpatient": ("outpatient", "门诊")}
LEVELS = {"village": ("village", "村级"), "township": ("township", "乡级"), "county": ("county", "县级"),
          "municipal": ("municipal", "市级"), "provincial": ("provincial", "省级"),
          "out_of_province": ("out of province", "省外"), "unregistered": ("not on the register", "未登记机构")}
LEVEL_ORDER = list(LEVELS)


@dataclass(frozen=True)
class Row:
    key: str
    label_en: str
    label_zh: str
    unit: str  # yuan | rate | count | check
    values: list[Any]  # per scheme, in the result's order; a check: (passed, figure, threshold)


def rows(r: CountyResult) -> list[Row]:
    """The figures of each scheme, the balance rules last."""
    outcomes = list(r.outcomes.values())

    def row(key: str, en: str, zh: str, unit: str, get: Any) -> Row:
        return Row(key, en, zh, unit, [get(o) for o in outcomes])

    out = [row("compensation", "Compensation of the base year's claims", "基准年补偿支出（测算）", "yuan",
               lambda o: o.compensation)]
    pairs = sorted({p for o in outcomes for p in o.by_kind_level},
                   key=lambda p: (p[0] != "inpatient", LEVEL_ORDER.index(p[1]) if p[1] in LEVELS else 99))
    for kind, level in pairs:
        ken, kzh = KINDS.get(kind, (kind, kind))
        len_, lzh = LEVELS.get(level, (level, level))
        out.append(row(f"compensation_{kind}_{level}", f"  {ken}, {len_}", f"  {kzh}·{lzh}", "yuan",
                       lambda o, p=(kind, level): o.by_kind_level.get(p, Decimal(0))))
    out += [row("claims_without_terms", "Claims without terms (paid nothing)", "无补偿条款的结算单（不予补偿）", "count",
                lambda o: o.claims_without_terms),
            row("members_at_cap", "Members reaching the annual cap", "达到年度封顶线人数", "count",
                lambda o: o.members_at_cap),
            row("actual_compensation_ratio_inpatient", "Actual compensation ratio, stays", "住院实际补偿比", "rate",
                lambda o: o.actual_ratio_inpatient)]
    levels = [lv for lv in LEVEL_ORDER if any(lv in o.actual_ratio_by_level for o in outcomes)]
    for level in levels:
        len_, lzh = LEVELS[level]
        out.append(row(f"actual_compensation_ratio_{level}", f"  {len_}", f"  {lzh}", "rate",
                       lambda o, lv=level: o.actual_ratio_by_level.get(lv)))
    out += [row("projected_expenditure", f"Projected expenditure {r.base_year + 1} (growth {r.growth:.2%})",
                f"{r.base_year + 1}年预计支出（增长{r.growth:.2%}）", "yuan", lambda o: o.projected_expenditure),
            row("fund_usage_rate", "Fund usage rate", "基金使用率", "rate", lambda o: o.fund_usage_rate),
            row("surplus", "Year-end surplus", "当年结余", "yuan", lambda o: o.surplus),
            row("surplus_rate", "Surplus rate", "当年结余率", "rate", lambda o: o.surplus_rate),
            row("cumulative_surplus", "Cumulative surplus", "累计结余", "yuan", lambda o: o.cumulative_surplus),
            row("cumulative_surplus_rate", "Cumulative surplus rate", "累计结余率", "rate",
                lambda o: o.cumulative_surplus_rate)]
    for i, check in enumerate(outcomes[0].checks if outcomes else []):
        out.append(Row(f"check_{check.code}", f"{check.label_en} {_figure(check.threshold, check.code)}",
                       f"{check.label_zh}{_figure(check.threshold, check.code)}", "check",
                       [(o.checks[i].passed, o.checks[i].figure, o.checks[i].threshold) for o in outcomes]))
    return out


def facts(r: CountyResult) -> list[tuple[str, str, str, Any]]:
    """The inputs of the projection: (key, English, Chinese, value)."""
    return [("claims", "Claims of the base year", "基准年结算单数", r.claims),
            ("paid", "Paid on them", "实际补偿", r.paid),
            ("members_enrolled", "Members enrolled", "参合人数", r.members_enrolled),
            ("financing", f"Financing {r.base_year}", f"{r.base_year}年筹资", r.financing),
            ("per_head_financing", "Per-head financing (given)" if r.per_head_stated
             else f"Per-head financing (as {r.base_year})", "人均筹资", r.per_head_financing),
            ("next_financing", f"Financing {r.base_year + 1}", f"{r.base_year + 1}年筹资（测算）", r.next_financing),
            ("carried", f"Balance carried at the end of {r.base_year}", f"{r.base_year}年末累计结余", r.carried),
            ("growth", "Utilisation growth", "增长假设", r.growth),
            ("growth_basis", "Growth from", "增长依据", r.growth_basis)]


def _figure(value: Decimal, code: str) -> str:
    return f"{value}" if code == "deficit" else f"{value:.0%}"


def shown(value: Any, unit: str) -> str:
    """A cell as text: yuan with separators, rates as percentages, a check as pass or fail with its figure."""
    if value is None:
        return "-"
    if unit == "check":
        passed, figure, threshold = value
        return f"{'pass' if passed else 'FAIL'} {figure:.2%}" if threshold != 0 else \
            f"{'pass' if passed else 'FAIL'} {figure:,.2f}"
    if unit == "rate":
        return f"{value:.2%}"
    if unit == "yuan":
        return f"{value:,.2f}"
    return str(value)
