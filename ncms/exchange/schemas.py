"""The exchange format: one marshmallow schema per record type, and the package manifest.

This module is the contract between the counties and the province. Every source —
gateway packages, ETL extracts, API uploads — is checked against these schemas, the
vectorised screen (``screen.py``) derives its checks from them, and
``docs/exchange-format.md`` is generated from them (``python -m ncms.exchange.doc``).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar

import polars as pl
from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from ncms.models.enums import ClaimKind, FundingSource, ItemCategory

from .fields import BOOLEAN, CODE, DATE, DECIMAL, ICD10, INTEGER, NATIONAL_ID, TEXT, Spec, SpecField

FORMAT_NAME = "ncms-exchange"
FORMAT_VERSION = "1.0"
MONEY_MAX = Decimal("999999999999.99")
FEN = Decimal("0.01")


def text(max_length: int, description: str, required: bool = True) -> SpecField:
    return SpecField(Spec(TEXT, required, max_length=max_length, description=description))


def ident(max_length: int, description: str) -> SpecField:
    """A code or number written as text (member number, claim id, item code): trimmed like
    every code, so that a space-padded export matches what was loaded before."""
    return SpecField(Spec(TEXT, True, max_length=max_length, identifier=True, description=description))


def code(choices: tuple[str, ...], description: str, required: bool = True) -> SpecField:
    return SpecField(Spec(CODE, required, choices=choices, description=description))


def money(description: str, required: bool = True) -> SpecField:
    return SpecField(Spec(DECIMAL, required, minimum=Decimal(0), maximum=MONEY_MAX, scale=2,
                          description=description))


def day(description: str, required: bool = True) -> SpecField:
    return SpecField(Spec(DATE, required, description=description))


def flag(description: str) -> SpecField:
    return SpecField(Spec(BOOLEAN, required=False, description=description + " (empty means 0)"))


def integer(minimum: int, maximum: int, description: str) -> SpecField:
    return SpecField(Spec(INTEGER, minimum=minimum, maximum=maximum, description=description))


@dataclass(frozen=True)
class RowRule:
    """A check across fields of one row, written once for each checker.

    ``bad`` is a polars expression over the raw string columns, true where the rule is
    broken (it may assume each field alone is valid); ``holds`` is the same test on one
    row loaded by marshmallow.
    """

    code: str
    fields: tuple[str, ...]
    bad: Callable[[], pl.Expr]
    holds: Callable[[dict[str, Any]], bool]


def _money_col(name: str) -> pl.Expr:
    # integer fen: exact comparison of two-decimal amounts without float noise
    return (pl.col(name).cast(pl.Float64, strict=False) * 100).round(0).cast(pl.Int128, strict=False)


def _date_col(name: str) -> pl.Expr:
    return pl.col(name).str.strptime(pl.Date, "%Y-%m-%d", strict=False)


class Record(Schema):
    """Base of the record schemas: unknown columns are ignored, ``today`` bounds dates."""

    class Meta:
        unknown = EXCLUDE

    record_type: ClassVar[str]
    file_stem: ClassVar[str]
    key: ClassVar[tuple[str, ...]]
    row_rules: ClassVar[tuple[RowRule, ...]] = ()

    def __init__(self, *args: Any, today: date | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.today = today or date.today()

    @validates_schema(skip_on_field_errors=True)
    def _row_rules(self, data: dict[str, Any], **_: Any) -> None:
        for rule in self.row_rules:
            if not rule.holds(data):
                raise ValidationError(rule.code, field_name=rule.fields[-1])

    @classmethod
    def specs(cls) -> dict[str, Spec]:
        return {name: f.metadata["spec"] for name, f in cls._declared_fields.items()}


class MemberRecord(Record):
    """A person on the county's register, with the household they enrol with."""

    record_type, file_stem, key = "member", "members", ("member_no",)
    member_no = ident(32, "the county's member number (参合证号 + 个人编号), unique in the county")
    household_no = ident(32, "household number (户编号)")
    national_id = SpecField(Spec(NATIONAL_ID, description="national ID (居民身份证号); sex and birth date are derived from it"))
    name = text(64, "name (姓名)")
    relation = code(("head", "spouse", "child", "parent", "other"), "relation to the household head", required=False)
    township = text(64, "township of the household (乡镇)", required=False)
    village = text(64, "village of the household (村)", required=False)
    death_date = day("date of death, if the member has died (死亡日期)", required=False)


class EnrolmentRecord(Record):
    """A member's enrolment (参合) for one year, with the contribution paid."""

    record_type, file_stem, key = "enrolment", "enrolments", ("member_no", "year")
    member_no = ident(32, "member number, as in members")
    year = integer(2003, 2100, "enrolment year (参合年度)")
    contribution = money("individual contribution paid, yuan (个人缴费)")
    enrolled_on = day("date of enrolment", required=False)


def _dates_in_order(row: dict[str, Any]) -> bool:
    end = row["discharge_date"] or row["admission_date"]
    return row["admission_date"] <= end <= row["settlement_date"]


def _dates_in_order_bad() -> pl.Expr:
    end = pl.coalesce(_date_col("discharge_date"), _date_col("admission_date"))
    return (_date_col("admission_date") > end) | (end > _date_col("settlement_date"))


def _discharge_matches_kind(row: dict[str, Any]) -> bool:
    return (row["discharge_date"] is not None) == (row["kind"] == ClaimKind.INPATIENT.value)


def _discharge_matches_kind_bad() -> pl.Expr:
    has_discharge = pl.col("discharge_date").is_not_null() & (pl.col("discharge_date") != "")
    return has_discharge != (pl.col("kind") == ClaimKind.INPATIENT.value)


class ClaimRecord(Record):
    """One outpatient visit or inpatient stay, as the county settled it."""

    record_type, file_stem, key = "claim", "claims", ("claim_id",)
    claim_id = ident(64, "the county system's claim id (结算单号), unique in the county; a later package with the same id corrects it")
    kind = code(tuple(k.value for k in ClaimKind), "outpatient (门诊) or inpatient (住院)")
    member_no = ident(32, "member number, as in members")
    national_id = SpecField(Spec(NATIONAL_ID, description="the patient's national ID"))
    institution_code = ident(32, "code of the institution, as registered in the province (定点医疗机构编码)")
    admission_date = day("admission date, or visit date for outpatient care (入院/就诊日期)")
    discharge_date = day("discharge date; inpatient only (出院日期)", required=False)
    settlement_date = day("settlement date (结算日期)")
    diagnosis_code = SpecField(Spec(ICD10, description="main diagnosis, ICD-10 (主诊断)"))
    total_amount = money("total cost, yuan (医疗总费用)")
    eligible_amount = money("cost within policy scope, yuan (政策范围内费用)")
    compensated_amount = money("compensation paid by the fund, yuan (补偿金额)")
    referral = flag("1 if the patient was referred (转诊)")
    voided = flag("1 if the county voided this claim (作废)")

    row_rules = (
        RowRule("date_order", ("admission_date", "discharge_date", "settlement_date"),
                _dates_in_order_bad, _dates_in_order),
        RowRule("discharge_kind", ("kind", "discharge_date"),
                _discharge_matches_kind_bad, _discharge_matches_kind),
        RowRule("eligible_gt_total", ("total_amount", "eligible_amount"),
                lambda: _money_col("eligible_amount") > _money_col("total_amount"),
                lambda r: r["eligible_amount"] <= r["total_amount"]),
    )


def _amount_matches(row: dict[str, Any]) -> bool:
    expected = (row["quantity"] * row["unit_price"]).quantize(FEN, rounding=ROUND_HALF_UP)
    return abs(row["amount"] - expected) <= FEN


def _amount_mismatch_bad() -> pl.Expr:
    # quantity has at most 3 decimals, price 2: their product is exact in integer 1/100000
    q = (pl.col("quantity").cast(pl.Float64, strict=False) * 1000).round(0).cast(pl.Int128, strict=False)
    p = _money_col("unit_price")
    expected_fen = ((q * p) + 500).floordiv(1000)  # round half up to the fen
    return (_money_col("amount") - expected_fen).abs() > 1


class ClaimItemRecord(Record):
    """A line of a claim's cost detail (费用明细)."""

    record_type, file_stem, key = "claim_item", "claim_items", ("claim_id", "line_no")
    claim_id = ident(64, "the claim this line belongs to")
    line_no = integer(1, 99999, "line number within the claim, from 1")
    item_code = ident(32, "item code; codes the provincial catalogue does not know are loaded and marked unmapped")
    item_name = text(128, "item name as billed", required=False)
    category = code(tuple(c.value for c in ItemCategory), "drug, exam, lab, treatment, material, bed or other")
    quantity = SpecField(Spec(DECIMAL, minimum=Decimal(0), exclusive_minimum=True, maximum=Decimal(999999),
                              scale=3, digits=6, description="quantity billed, up to 3 decimals"))
    unit_price = money("unit price, yuan")
    amount = money("amount, yuan: quantity × unit price, rounded to the fen")

    row_rules = (
        RowRule("amount_mismatch", ("quantity", "unit_price", "amount"),
                _amount_mismatch_bad, _amount_matches),
    )


class FinancingRecord(Record):
    """Money raised for the county's pooled fund in one month, by source (筹资)."""

    record_type, file_stem, key = "financing", "financing", ("year", "month", "source")
    year = integer(2003, 2100, "year")
    month = integer(1, 12, "month")
    source = code(tuple(s.value for s in FundingSource), "individual, central, provincial, local or other")
    amount = money("amount raised, yuan")


RECORD_SCHEMAS: dict[str, type[Record]] = {
    s.record_type: s for s in (MemberRecord, EnrolmentRecord, ClaimRecord, ClaimItemRecord, FinancingRecord)
}
LOAD_ORDER = tuple(RECORD_SCHEMAS)  # members before enrolments, claims before their items


class ManifestFile(Schema):
    name = fields.String(required=True, validate=validate.Regexp(r"^[A-Za-z0-9_.-]{1,128}\Z"))
    record_type = fields.String(required=True, validate=validate.OneOf(LOAD_ORDER))
    format = fields.String(required=True, validate=validate.OneOf(("csv", "xml")))
    rows = fields.Integer(required=True, validate=validate.Range(min=0))
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}\Z"))


class Period(Schema):
    start = fields.Date(required=True)
    end = fields.Date(required=True)

    @validates_schema
    def _ordered(self, data: dict[str, Any], **_: Any) -> None:
        if data["start"] > data["end"]:
            raise ValidationError("start is after end", field_name="end")


class Manifest(Schema):
    """``manifest.json``: what the package claims to hold; every claim is checked."""

    format = fields.String(required=True, validate=validate.Equal(FORMAT_NAME))
    format_version = fields.String(required=True, validate=validate.OneOf((FORMAT_VERSION,)))
    county_code = fields.String(required=True, validate=validate.Regexp(r"^[0-9]{6}\Z"))
    sequence = fields.Integer(required=True, validate=validate.Range(min=1))
    period = fields.Nested(Period, required=True)
    encoding = fields.String(required=True, validate=validate.OneOf(("UTF-8", "GB18030")))
    created_at = fields.AwareDateTime(load_default=None)
    files = fields.List(fields.Nested(ManifestFile), required=True, validate=validate.Length(min=1, max=20))

    @validates_schema
    def _unique_files(self, data: dict[str, Any], **_: Any) -> None:
        names = [f["name"] for f in data["files"]]
        if len(set(names)) != len(names):
            raise ValidationError("a file is listed twice", field_name="files")
