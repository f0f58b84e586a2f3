"""What a county is told about a refused row, in Chinese and in English.

Every check, vectorised, marshmallow or set-based SQL, reports a code; this module is the
one place that turns a code into words, with the field's rule from its Spec.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ncms import ids

from .fields import ID_PADDING, Spec

MAX_VALUE_SHOWN = 200

# code -> (Chinese, English); {field}, {value}, {allowed}, {detail} and a code's own details
# ({count}, {first}, … from ``Problem.detail``) are filled in. The Chinese never quotes the
# English: {detail} is given in each language (``tests/test_receipts.py`` scans them).
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
    "duplicate_key": ("同一文件中主键重复（出现 {count} 次，第 {first}…{last} 行），重复各行均未入库",
                      "the key appears more than once in this file (×{count}, lines {first}…{last}); none of those rows was loaded"),
    "unknown_institution": ("医疗机构编码 {value} 未在省级平台登记", "institution {value} is not registered in the province"),
    "unknown_member": ("参合人员 {value} 不存在（本包及已入库数据中均无）", "member {value} is unknown (neither in this package nor loaded before)"),
    "unknown_claim": ("费用明细所属结算单 {value} 不存在（本包及已入库数据中均无）", "the claim {value} of this line is unknown (neither in this package nor loaded before)"),
    "items_sum": ("费用明细合计与医疗总费用不符（明细合计 {items}，total_amount 为 {total}）",
                  "the claim's items do not add up to total_amount (items {items}, total_amount {total})"),
    "claim_rejected": ("所属结算单 {value} 被拒收，本明细一并拒收", "the claim {value} of this line was refused, so the line was not loaded"),
    "ragged_row": ("字段个数与表头不一致（应为 {expected} 个，实为 {actual} 个）", "the row has a different number of fields than the header (expected {expected}, got {actual})"),
    "screen_mismatch": ("校验结果不一致，请联系省级平台", "the checks disagree on this row; please contact the province"),
}


@dataclass
class Problem:
    """One reason one row was refused.

    ``detail`` is language-neutral: the numbers of a set check (``DETAILS`` names them,
    comma-separated) or, for a national ID, nothing (the reason is worked out again, in
    each language)."""

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


# the parts of a set check's ``detail``, in order ("2,5,9": twice, lines 5 to 9)
DETAILS = {"duplicate_key": ("count", "first", "last"), "items_sum": ("items", "total"),
           "ragged_row": ("expected", "actual")}


def render(problem: Problem) -> tuple[str, str]:
    zh, en = TEMPLATES.get(problem.code, ("{code}", "{code}"))
    values = dict(field=problem.field, code=problem.code, detail=mask_ids_in_text(problem.detail),
                  value=shown_value(problem.value, problem.field),
                  allowed=problem.spec.allowed if problem.spec else "")
    names = DETAILS.get(problem.code, ())
    parts = problem.detail.split(",") if problem.detail else []
    values.update(zip(names, parts + [""] * (len(names) - len(parts))))
    detail_zh = detail_en = values["detail"]
    if problem.code == "national_id":
        detail_zh, detail_en = national_id_reasons(problem.value)
    return zh.format(**{**values, "detail": detail_zh}), en.format(**{**values, "detail": detail_en})


def shown_value(value: Any, field: str | None = None) -> str:
    """A value as the receipt shows it: a national ID masked (the value of a national-ID field,
    or a value that is a valid ID: claim, member and institution numbers are shown as sent,
    so that the county can find the row), long values cut."""
    if value is None:
        return ""
    text = str(value)
    if field == "national_id" or is_national_id(text):
        return ids.mask_national_id(text.strip(ID_PADDING))
    text = mask_ids_in_text(text)
    return text if len(text) <= MAX_VALUE_SHOWN else text[:MAX_VALUE_SHOWN] + f"… ({len(text)} characters)"


_ID_TOKEN = re.compile(r"(?<![0-9A-Za-z])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")


def is_national_id(text: str) -> bool:
    """A valid 18-character national ID, or a valid 15-digit first-generation one (province,
    birth date 19YYMMDD): what must not be shown whole. A number that merely has as many
    digits (a claim number) is not one."""
    value = text.strip(ID_PADDING)
    if len(value) == 15 and value.isascii() and value.isdigit():
        return value[:2] in ids._PROVINCE_CODES and _is_date("19" + value[6:12])  # noqa: SLF001
    return len(value) == 18 and ids.is_valid_national_id(value)


def mask_ids_in_text(text: Any) -> str:
    """``text`` with every national ID in it masked: details, refused CSV lines, messages."""
    if not text:
        return "" if text is None else str(text)
    return _ID_TOKEN.sub(lambda m: ids.mask_national_id(m.group()) if is_national_id(m.group()) else m.group(),
                         str(text))


def _is_date(digits: str) -> bool:
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return False
    return born <= date.today()


# --- national IDs, in both languages ---------------------------------------------------

def national_id_reasons(value: Any, today: date | None = None) -> tuple[str, str]:
    """Why a national ID is refused, in Chinese and in English, the ID masked. The checks are
    ``ncms.ids``'s (its English message is the English here); the Chinese is built from the
    reason's code and the same facts."""
    raw = "" if value is None else str(value)
    stripped = raw.strip(ID_PADDING)
    number = stripped.strip().upper()
    shown = ids.mask_national_id(number)
    try:
        parsed = ids.parse_national_id(stripped, today=today or date.today())
    except ids.InvalidId as exc:
        return _NATIONAL_ID_ZH[exc.code](number, shown), str(exc)
    if parsed.number != stripped.upper():
        return (f"身份证号 {shown} 含有号码 18 位以外的字符（如换行、制表符）",
                f"national ID {shown} has characters other than the 18 of the number")
    return f"身份证号 {shown} 在就诊日无效", f"national ID {shown} is not valid on the day of care"


def _charset_zh(number: str, shown: str) -> str:
    bad = next(i for i, c in enumerate(number) if not (c in "0123456789" or (i == 17 and c == "X")))
    return (f"身份证号 {shown} 第 {bad + 1} 位为 {number[bad]!r}；第 1-17 位应为数字 0-9，"
            "第 18 位应为数字或 X")


def _check_zh(number: str, shown: str) -> str:
    expected = ids.national_id_check_character(number[:17])
    return (f"身份证号 {shown} 末位为 {number[17]!r}，按前 17 位应为 {expected!r}；"
            "号码录入有误，请与身份证核对")


_NATIONAL_ID_ZH = {
    "legacy_15": lambda n, shown: f"身份证号 {shown} 为 15 位一代号码，已不再接受；请报送本人 18 位身份证号",
    "length": lambda n, shown: (f"身份证号 {shown} 共 {len(n)} 位，应为 18 位"
                                "（17 位数字加 1 位校验码 0-9 或 X）"),
    "charset": _charset_zh,
    "area": lambda n, shown: (f"身份证号 {shown} 前两位 {n[:2]!r} 不是 GB/T 2260 省级代码；"
                              "允许：11-15、21-23、31-37、41-46、50-54、61-65、71、81、82"),
    "birth_date": lambda n, shown: (f"身份证号 {shown} 第 7-14 位出生日期 {n[6:14]} 不是 18800101 "
                                    "至入库当日之间的真实日期（YYYYMMDD）"),
    "check_character": _check_zh,
}


# --- packages refused as a whole ----------------------------------------------------------

# key (the code, or code.variant) -> (Chinese, English); ``PackageError`` fills in the names
PACKAGE_TEMPLATES: dict[str, tuple[str, str]] = {
    "too_large": ("数据包大于 {limit} 字节的上限", "package is larger than {limit} bytes"),
    "too_large.file": ("{name} 解压后 {size} 字节，超过上限", "{name}: uncompressed size {size} is over the limit"),
    "too_large.manifest": ("manifest.json 大于 {limit} 字节", "manifest.json is larger than {limit} bytes"),
    "not_zip": ("文件不是可读取的 ZIP 压缩包", "not a readable ZIP file: {reason}"),
    "unsafe_path": ("数据包中的文件名 {name} 不安全（只允许不含目录的文件名）",
                    "unsafe file name in the package: {name} (only plain file names are allowed)"),
    "no_manifest": ("数据包中没有 manifest.json", "the package has no manifest.json"),
    "bad_manifest.json": ("manifest.json 不是合法的 JSON 对象（UTF-8）", "manifest.json is not valid JSON: {reason}"),
    "bad_manifest": ("manifest.json 不符合要求：{problems}（格式 {format} {version}，见 {doc}）",
                     "manifest.json is not valid: {problems} (format {format} {version}, see {doc})"),
    "unexpected_file": ("数据包含有清单未列出的文件：{names}", "files not listed in the manifest: {names}"),
    "missing_file": ("清单列出的文件 {name} 不在数据包中", "{name} is listed in the manifest but not in the package"),
    "checksum": ("{name} 的 SHA-256 为 {digest}，清单中为 {expected}",
                 "{name}: SHA-256 is {digest}, the manifest says {expected}"),
    "zip_bomb": ("{name} 的压缩比为 {ratio}:1，超过允许的 {limit}:1",
                 "{name}: compresses {ratio}:1, more than the {limit}:1 allowed"),
    "corrupt_zip": ("{name} 无法解压（数据损坏、大小或 CRC 不符，或已加密）", "{name} cannot be decompressed: {reason}"),
    "bad_header": ("{name} 的表头缺少必填列 {columns}（见 {doc}）",
                   "{name}: the header lacks the required column(s) {columns} (see {doc})"),
    "unreadable_csv": ("{name} 无法按 CSV 读取", "{name}: cannot be read as CSV: {reason}"),
    "unreadable_csv.no_header": ("{name} 没有表头行", "{name}: no header line"),
    "unreadable_xml": ("{name} 的 XML 被拒收：格式不正确，或含 DTD、实体声明", "{name}: refused XML: {reason}"),
    "row_count": ("{name}：清单中为 {expected} 行，文件实有 {found} 行",
                  "{name}: the manifest says {expected} rows, the file has {found}"),
    "wrong_county": ("清单中的县区代码 {manifest_county} 不是发送方县区 {sender}",
                     "the manifest's county {manifest_county} is not the sender's county {sender}"),
    "unknown_county": ("县区 {county} 未在本省平台配置（请在 {config} 中配置后运行 {command}）",
                       "county {county} is not configured in this province ({config}, then `{command}`)"),
    "already_loaded": ("本数据包与第 {batch} 批次完全相同（SHA-256 一致），该批次已于 {received} 全部入库，本次未重复入库",
                       "this package is identical to batch {batch} (the same SHA-256), loaded in full on {received}; "
                       "it was not loaded again"),
    "unexplained": ("数据包被整体拒收（原因代码 {code}）", "{message}"),
}


def package_messages(key: str, params: dict[str, Any]) -> tuple[str, str]:
    """A whole-package refusal in Chinese and English, every national ID in it masked. A
    parameter given as a (Chinese, English) pair is said in each language."""
    zh, en = PACKAGE_TEMPLATES[key]
    said = [{name: mask_ids_in_text(value[i] if isinstance(value, tuple) else value)
             for name, value in params.items()} for i in (0, 1)]
    return zh.format(**said[0]), en.format(**said[1])


# marshmallow's messages about manifest.json, in Chinese (the English is marshmallow's own)
_MANIFEST_ZH = [
    (r"Missing data for required field\.", "缺少必填项"),
    (r"Not a valid integer\.", "应为整数"),
    (r"Not a valid string\.", "应为文本"),
    (r"Not a valid date\.", "应为日期 YYYY-MM-DD"),
    (r"Not a valid (aware )?datetime\.|Not a valid aware datetime\.", "应为带时区的日期时间"),
    (r"Not a valid list\.", "应为列表"),
    (r"Invalid input type\.", "类型不对，应为对象"),
    (r"Unknown field\.", "未知项"),
    (r"Must be equal to (.*)\.", r"应为 \1"),
    (r"Must be one of: (.*)\.", r"应为以下之一：\1"),
    (r"String does not match expected pattern\.", "格式不符"),
    (r"Must be greater than or equal to (.*)\.", r"应不小于 \1"),
    (r"Length must be between (.*) and (.*)\.", r"个数应在 \1 到 \2 之间"),
    (r"start is after end", "开始日期晚于结束日期"),
    (r"a file is listed twice", "有文件被重复列出"),
]


def manifest_problems(messages: Any) -> tuple[str, str]:
    """marshmallow's errors of ``manifest.json`` as one line in each language: where
    (``files.0.sha256``) and what is wrong."""
    zh, en = [], []
    for path, message in _flatten(messages):
        zh.append(f"{path or '清单'}：{_manifest_zh(message)}")
        en.append(f"{path or 'manifest'}: {message}")
    return "；".join(zh), "; ".join(en)


def _flatten(messages: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(messages, dict):
        return [item for key, inner in messages.items()
                for item in _flatten(inner, f"{prefix}.{key}" if prefix and key != "_schema" else
                                     (prefix if key == "_schema" else str(key)))]
    if isinstance(messages, (list, tuple)):
        return [item for inner in messages for item in _flatten(inner, prefix)]
    return [(prefix, str(messages))]


def _manifest_zh(message: str) -> str:
    for pattern, words in _MANIFEST_ZH:
        if re.fullmatch(pattern, message):
            return re.sub(pattern, words, message)
    return "不符合清单规则"
