"""What a county is told about a refused row, in Chinese and in English.

Every check, vectorised, marshmallow or set-based SQL, reports a code; this module is the
one place that turns a code into words, with the field's rule from its Spec.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ncms import ids

from .fields import Spec

MAX_VALUE_SHOWN = 200

# code -> (Chinese, English); {field}, {allowed}, {detail} are filled in
TEMPLATES: dict[str, tuple[str, str]] = {
    "required": ("必填字段 {field} 为空", "required field {field} is empty"),
    "bad_encoding": ("字段 {field} 含有无法按声明编码解码的字节", "field {field} has bytes that are not valid in the declared encoding"),
    "too_long": ("字段 {field} 过长（允许：{allowed}）", "field {field} is too long (allowed: {allowed})"),
    "not_in_list": ("字段 {field} 的取值不在代码表中（允许：{allowed}）", "field {field} is not in the code list (allowed: {allowed})"),
    "not_boolean": ("字段 {field} 应为 0 或 1", "field {field} must be 0 or 1"),
    "not_integer": ("字段 {field} 应为整数（允许：{allowed}）", "field {field} must be a whole number (allowed: {allowed})"),
    "not_decimal": ("字段 {field} 不是合法数值（允许：{allowed}）", "field {field} is not a valid number (allowed: {allowed})"),
    "out_of_range": ("字段 {field} 超出允许范围（允许：{allowed}）", "field {field} is out of range (allowed: {allowed})"),
    "not_date": ("字段 {field} 不是合法日期（格式 YYYY-MM-DD）", "field {field} is not a real date in the form YYYY-MM-DD"),
    "date_out_of_range": ("字段 {field} 的日期早于 2003-01-01 或晚于入库当日", "field {field} is before 2003-01-01 or after the day of loading"),
    "national_id": ("身份证号无效：{detail}", "invalid national ID: {detail}"),
    "not_icd10": ("字段 {field} 不是 ICD-10 编码（如 J18 或 J18.9）", "field {field} is not an ICD-10 code (such as J18 or J18.9)"),
    "date_order": ("日期顺序错误：应为 入院日期 ≤ 出院日期 ≤ 结算日期", "dates out of order: admission_date ≤ discharge_date ≤ settlement_date is required"),
    "discharge_kind": ("出院日期仅住院单据填写，且住院单据必须填写", "discharge_date is required for inpatient claims and must be empty for outpatient ones"),
    "eligible_gt_total": ("政策范围内费用大于医疗总费用", "eligible_amount is greater than total_amount"),
    "amount_mismatch": ("金额不等于 数量 × 单价（允许误差一分）", "amount is not quantity × unit_price (within one fen)"),
    "duplicate_key": ("同一文件中主键重复（{detail}），重复各行均未入库", "the key appears more than once in this file ({detail}); none of those rows was loaded"),
    "unknown_institution": ("医疗机构编码 {value} 未在省级平台登记", "institution {value} is not registered in the province"),
    "unknown_member": ("参合人员 {value} 不存在（本包及已入库数据中均无）", "member {value} is unknown (neither in this package nor loaded before)"),
    "unknown_claim": ("费用明细所属结算单 {value} 不存在", "the claim {value} of this line is unknown (neither in this package nor loaded before)"),
    "items_sum": ("费用明细合计与医疗总费用不符（{detail}）", "the claim's items do not add up to total_amount ({detail})"),
    "claim_rejected": ("所属结算单被拒收，本明细一并拒收", "the claim of this line was refused, so the line was not loaded"),
    "ragged_row": ("字段个数与表头不一致（{detail}）", "the row has a different number of fields than the header ({detail})"),
    "screen_mismatch": ("校验结果不一致，请联系省级平台", "the checks disagree on this row; please contact the province"),
}


@dataclass
class Problem:
    """One reason one row was refused."""

    record_type: str
    file: str | None
    line: int | None
    field: str | None
    value: Any
    code: str
    spec: Spec | None = None
    record: dict[str, Any] | None = None
    detail: str = ""
    messages: tuple[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.messages = render(self)


def render(problem: Problem) -> tuple[str, str]:
    zh, en = TEMPLATES.get(problem.code, ("{code}", "{code}"))
    detail = problem.detail
    if problem.code == "national_id" and not detail:
        detail = _national_id_reason(problem.value)
    values = dict(field=problem.field, code=problem.code, detail=detail,
                  value=shown_value(problem.value, problem.field),
                  allowed=problem.spec.allowed if problem.spec else "")
    return zh.format(**values), en.format(**values)


def shown_value(value: Any, field: str | None = None) -> str:
    """A value as the receipt shows it: national IDs (or anything like one) masked, long values cut."""
    if value is None:
        return ""
    text = str(value)
    digits = sum(ch.isdigit() for ch in text)
    if field == "national_id" or (12 <= digits <= 20 and digits >= len(text.strip()) - 2):
        return ids.mask_national_id(text.strip())
    return text if len(text) <= MAX_VALUE_SHOWN else text[:MAX_VALUE_SHOWN] + f"… ({len(text)} characters)"


def _national_id_reason(value: Any) -> str:
    try:
        ids.parse_national_id(str(value or ""), today=date.today())
    except ids.InvalidId as exc:
        return str(exc)
    return "not valid on the day of care"
