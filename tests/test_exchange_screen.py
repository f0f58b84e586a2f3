"""The two checkers of the exchange format: the vectorised screen and marshmallow.

Each Spec kind is checked on both sides with the same values; the row rules are checked
through ``screen()``; and hypothesis mutates valid rows with nasty values to look for a
row on which the screen and marshmallow disagree. The disagreements found so far are bugs
in the modules; each is fixed and its test below keeps it fixed.
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ncms.exchange.fields import FieldError, Spec, bad_value, normalised, parse_value
from ncms.exchange.messages import Problem, shown_value
from ncms.exchange.schemas import (RECORD_SCHEMAS, ClaimItemRecord, ClaimRecord, EnrolmentRecord, MemberRecord,
                                   Record)
from ncms.exchange.screen import LINE, screen
from ncms.ids import national_id_check_character

TODAY = date(2024, 6, 1)
PROVINCES = ("11", "31", "44", "52", "65", "82")


def national_id(area: str = "520121", born: str = "19900101", sequence: str = "123") -> str:
    body = area + born + sequence
    return body + national_id_check_character(body)


def x_national_id() -> str:
    """A valid ID whose check character is X, to test the lowercase x."""
    return next(i for n in range(1000) if (i := national_id(sequence=f"{n:03d}")).endswith("X"))


ID = national_id()
ID_X = x_national_id()
WRONG_CHECK = ID[:17] + ("0" if ID[17] != "0" else "1")

SPEC = {
    "text": MemberRecord.specs()["name"],
    "optional_text": MemberRecord.specs()["township"],
    "code": ClaimRecord.specs()["kind"],
    "year": EnrolmentRecord.specs()["year"],
    "line_no": ClaimItemRecord.specs()["line_no"],
    "money": ClaimRecord.specs()["total_amount"],
    "quantity": ClaimItemRecord.specs()["quantity"],
    "date": ClaimRecord.specs()["admission_date"],
    "optional_date": ClaimRecord.specs()["discharge_date"],
    "boolean": ClaimRecord.specs()["referral"],
    "national_id": ClaimRecord.specs()["national_id"],
    "icd10": ClaimRecord.specs()["diagnosis_code"],
}


def verdicts(spec: Spec, raw: str | None) -> tuple[str | None, bool]:
    """(marshmallow's code or None, the screen's verdict) for one value."""
    try:
        parse_value(spec, raw, TODAY)
        code = None
    except FieldError as exc:
        code = exc.code
    frame = pl.DataFrame({"v": [raw]}, schema={"v": pl.String}).select(normalised(spec, "v"))
    return code, frame.select(bad_value(spec, "v", TODAY)).item()


# --- each kind, both sides -----------------------------------------------------------

PASS = [
    ("text", "张三"), ("text", "x" * 64), ("text", " "), ("text", "O'Brien, \"Jr\""),
    ("optional_text", ""), ("optional_text", None),
    ("code", "outpatient"), ("code", "inpatient"),
    ("year", "2003"), ("year", "2024"), ("year", "2100"), ("line_no", "1"), ("line_no", "99999"), ("line_no", "007"),
    ("money", "0"), ("money", "0.00"), ("money", "12"), ("money", "12.5"), ("money", "12.34"),
    ("money", "999999999999.99"),
    ("quantity", "3"), ("quantity", "0.001"), ("quantity", "0.333"), ("quantity", "999999"),
    ("date", "2003-01-01"), ("date", "2012-02-29"), ("date", "2016-02-29"),
    ("date", TODAY.isoformat()), ("optional_date", ""),
    ("boolean", "0"), ("boolean", "1"), ("boolean", ""), ("boolean", None),
    ("national_id", ID), ("national_id", ID_X.lower()), ("national_id", f"  {ID}\t"), ("national_id", f"\u3000{ID}"),
    ("national_id", national_id(born="18800101")), ("national_id", national_id(born=TODAY.strftime("%Y%m%d"))),
    ("icd10", "J18"), ("icd10", "J18.9"), ("icd10", "A00.01"), ("icd10", "S72.0A1"),
    # codes and numbers are trimmed of spaces, ASCII and ideographic (GBK exports pad with both)
    ("code", " outpatient"), ("code", "\u3000inpatient\u3000"), ("year", " 2024"), ("money", " 12"),
    ("money", "12 "), ("money", "12.50\u3000"), ("date", "2011-02-03 "), ("boolean", " 1"), ("icd10", " J18"),
    ("icd10", "J18.9 "), ("quantity", "\u30002"), ("line_no", " 7 "), ("text", "张三 "),
]

FAIL = [
    ("text", "x" * 65, "too_long"), ("text", "", "required"), ("text", None, "required"),
    ("text", "张\ufffd三", "bad_encoding"), ("optional_text", "\ufffd", "bad_encoding"),
    ("code", "Outpatient", "not_in_list"), ("code", "\toutpatient", "not_in_list"), ("code", "门诊", "not_in_list"),
    ("code", "", "required"),
    ("year", "2002", "out_of_range"), ("year", "2101", "out_of_range"), ("year", "-1", "out_of_range"),
    ("year", "２０２４", "not_integer"), ("year", "2024.0", "not_integer"), ("year", "+2024", "not_integer"),
    ("year", "20 24", "not_integer"), ("year", "1e3", "not_integer"), ("year", "1234567890", "not_integer"),
    ("line_no", "0", "out_of_range"), ("line_no", "100000", "out_of_range"),
    ("money", "12.345", "not_decimal"), ("money", "-1", "out_of_range"), ("money", "-0.01", "out_of_range"),
    ("money", "1,000.00", "not_decimal"), ("money", "１２", "not_decimal"), ("money", "12.", "not_decimal"),
    ("money", ".5", "not_decimal"), ("money", "1e3", "not_decimal"), ("money", "NaN", "not_decimal"),
    ("money", "1 2", "not_decimal"), ("money", "12\t", "not_decimal"), ("money", "¥12", "not_decimal"),
    ("money", "1000000000000", "not_decimal"), ("money", "", "required"),
    ("quantity", "0", "out_of_range"), ("quantity", "0.000", "out_of_range"), ("quantity", "999999.5", "out_of_range"),
    ("quantity", "1.2345", "not_decimal"), ("quantity", "1000000", "not_decimal"), ("quantity", "-3", "out_of_range"),
    ("date", "2011-2-3", "not_date"), ("date", "2011-02-29", "not_date"), ("date", "2011-02-30", "not_date"),
    ("date", "2011-13-01", "not_date"), ("date", "2011/02/03", "not_date"), ("date", "20110203", "not_date"),
    ("date", "２０１１-02-03", "not_date"), ("date", "2011-02-03\u00a0", "not_date"), ("date", "0000-01-01", "not_date"),
    ("date", "2011-02-03T00:00", "not_date"),
    ("date", "2002-12-31", "date_out_of_range"), ("date", (TODAY + timedelta(days=1)).isoformat(), "date_out_of_range"),
    ("date", "", "required"), ("optional_date", "2011-02-30", "not_date"),
    ("boolean", "2", "not_boolean"), ("boolean", "true", "not_boolean"), ("boolean", "1\u3000\t", "not_boolean"),
    ("boolean", "01", "not_boolean"),
    ("national_id", ID[:15], "national_id"), ("national_id", ID[:17], "national_id"),
    ("national_id", ID + "0", "national_id"), ("national_id", WRONG_CHECK, "national_id"),
    ("national_id", national_id(area="000121"), "national_id"), ("national_id", national_id(born="19900230"), "national_id"),
    ("national_id", national_id(born="18791231"), "national_id"),
    ("national_id", national_id(born=(TODAY + timedelta(days=1)).strftime("%Y%m%d")), "national_id"),
    ("national_id", "".join(chr(ord(c) + 0xFEE0) for c in ID[:17]) + ID[17], "national_id"),
    ("national_id", ID[:8] + " " + ID[9:], "national_id"), ("national_id", "", "required"),
    ("icd10", "j18", "not_icd10"), ("icd10", "J18.", "not_icd10"), ("icd10", "J1", "not_icd10"),
    ("icd10", "J18.12345", "not_icd10"), ("icd10", "J 18", "not_icd10"), ("code", "  ", "required"), ("code", "\u3000", "required"),
    ("icd10", "J18-9", "not_icd10"), ("icd10", "", "required"),
]


@pytest.mark.parametrize(("kind", "raw"), PASS)
def test_value_passes_both_checkers(kind, raw):
    assert verdicts(SPEC[kind], raw) == (None, False)


@pytest.mark.parametrize(("kind", "raw", "code"), FAIL)
def test_value_fails_both_checkers_with_its_code(kind, raw, code):
    assert verdicts(SPEC[kind], raw) == (code, True)


@pytest.mark.parametrize(("kind", "raw", "code"), [
    ("year", "2024\n", "not_integer"), ("money", "12.50\n", "not_decimal"), ("icd10", "J18\n", "not_icd10")])
def test_trailing_newline_is_refused_by_both(kind, raw, code):
    assert verdicts(SPEC[kind], raw) == (code, True)


@pytest.mark.parametrize("raw", [ID + "\x1c", "\x1f" + ID])
def test_national_id_stripping_is_the_same_on_both_sides(raw):
    code, bad = verdicts(SPEC["national_id"], raw)
    assert (code is None) == (not bad)


# --- row rules -------------------------------------------------------------------------

def claim(**changes: str | None) -> dict[str, str | None]:
    row = dict(claim_id="C1", kind="outpatient", member_no="M1", national_id=ID, institution_code="520121200001",
               admission_date="2024-03-15", discharge_date=None, settlement_date="2024-03-15",
               diagnosis_code="J06.9", total_amount="100.10", eligible_amount="100.1", compensated_amount="50.05",
               referral="0", voided=None)
    return row | changes


def item(**changes: str | None) -> dict[str, str | None]:
    row = dict(claim_id="C1", line_no="1", item_code="86900134000015", item_name="阿莫西林胶囊", category="drug",
               quantity="2", unit_price="8.50", amount="17.00")
    return row | changes


def frame(rows: list[dict[str, str | None]], first_line: int = 2) -> pl.DataFrame:
    columns = list(rows[0])
    data = pl.DataFrame(rows, schema={c: pl.String for c in columns})
    return data.with_columns(pl.int_range(first_line, first_line + len(rows), dtype=pl.Int64).alias(LINE))


def codes(schema_cls: type[Record], row: dict[str, str | None]) -> set[str]:
    """The codes screen() gives one row, after checking that marshmallow gives the same."""
    result = screen(schema_cls, frame([row]), today=TODAY, file="f.csv")
    found = {p.code for p in result.problems}
    assert (result.good.height == 0) == bool(found)
    marshmallow = {c for cs in schema_cls(today=TODAY).validate(row).values() for c in cs}
    assert found == marshmallow
    return found


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, set()),  # eligible "100.1" equals total "100.10"
    (dict(settlement_date="2024-03-14"), {"date_order"}),
    (dict(kind="inpatient", admission_date="2024-03-10", discharge_date="2024-03-09", settlement_date="2024-03-12"),
     {"date_order"}),
    (dict(kind="inpatient", admission_date="2024-03-10", discharge_date="2024-03-13", settlement_date="2024-03-12"),
     {"date_order"}),
    (dict(kind="inpatient", admission_date="2024-03-10", discharge_date="2024-03-13", settlement_date="2024-03-13"),
     set()),
    (dict(discharge_date="2024-03-15"), {"discharge_kind"}),
    (dict(kind="inpatient"), {"discharge_kind"}),
    (dict(eligible_amount="100.11"), {"eligible_gt_total"}),
    (dict(total_amount="0", eligible_amount="0.01"), {"eligible_gt_total"}),
    (dict(total_amount="999999999999.98", eligible_amount="999999999999.99"), {"eligible_gt_total"}),
])
def test_claim_row_rules(changes, expected):
    assert codes(ClaimRecord, claim(**changes)) == expected


@pytest.mark.parametrize(("changes", "expected"), [
    ({}, set()),
    (dict(quantity="0.333", unit_price="3", amount="1.00"), set()),  # 0.999, within one fen
    (dict(quantity="0.333", unit_price="3", amount="0.99"), set()),
    (dict(quantity="0.333", unit_price="3", amount="1.01"), set()),
    (dict(quantity="0.333", unit_price="3", amount="1.02"), {"amount_mismatch"}),
    (dict(quantity="0.333", unit_price="3", amount="0.98"), {"amount_mismatch"}),
    (dict(quantity="2", unit_price="8.50", amount="18.00"), {"amount_mismatch"}),
    (dict(quantity="2", unit_price="8.50", amount="16.98"), {"amount_mismatch"}),
    (dict(quantity="1", unit_price="0", amount="0.01"), set()),
    (dict(quantity="999999", unit_price="999999.99", amount="999998990000.01"), set()),
    (dict(quantity="3", unit_price="0.333", amount="1.00"), {"not_decimal"}),  # prices have 2 decimals
])
def test_item_amount_rule(changes, expected):
    assert codes(ClaimItemRecord, item(**changes)) == expected


@pytest.mark.parametrize(("amount", "refused"), [("0.51", True), ("0.52", False), ("0.53", False),
                                                 ("0.54", False), ("0.55", True)])
def test_item_amount_rounds_half_up_on_both_sides(amount, refused):
    """1.5 × 0.35 = 0.525, which is 0.53 rounded half up; one fen either side is allowed."""
    row = item(quantity="1.5", unit_price="0.35", amount=amount)
    result = screen(ClaimItemRecord, frame([row]), today=TODAY, file="f.csv")
    expected = ["amount_mismatch"] if refused else []
    assert [p.code for p in result.problems] == expected
    assert ClaimItemRecord(today=TODAY).validate(row) == ({"amount": expected} if refused else {})


def test_item_amount_rule_does_not_overflow():
    row = item(quantity="999998", unit_price="999999999999.99", amount="3764195206.92")
    assert codes(ClaimItemRecord, row) == {"amount_mismatch"}


@pytest.mark.parametrize(("schema_cls", "row"), [
    (ClaimRecord, claim(total_amount="NaN")), (ClaimRecord, claim(eligible_amount="inf")),
    (ClaimRecord, claim(total_amount="100000000000000000")), (ClaimItemRecord, item(quantity="NaN")),
    (ClaimItemRecord, item(unit_price="1e30")), (ClaimItemRecord, item(amount="-inf")),
], ids=["total-NaN", "eligible-inf", "total-18-digits", "quantity-NaN", "price-1e30", "amount--inf"])
def test_one_unreadable_number_refuses_one_row_not_the_chunk(schema_cls, row):
    good = claim(claim_id="C0") if schema_cls is ClaimRecord else item(line_no="2")
    result = screen(schema_cls, frame([good, row]), today=TODAY, file="f.csv")
    assert result.good[LINE].to_list() == [2]
    assert [p.code for p in result.problems] == ["not_decimal"]


# --- the two checkers agree: hypothesis ------------------------------------------------

FULLWIDTH = str.maketrans("0123456789.-", "０１２３４５６７８９．－")
NASTY = [
    None, "", " ", "\t", "\u3000", "\x00", "\ufffd", "x" * 33, "x" * 65, "x" * 129, "张" * 70, "１２", "Ｊ１８",
    "0", "-0", "00", "1", "2", "-1", "1e3", "NaN", "inf", "0.000", "0.001", "1.234", "12.345", "1,000.00",
    "999999", "999999.001", "1000000", "999999999999.99", "1000000000000", "100000000000000000", "9999999999",
    "2003", "2100", "2101",
    "2011-02-30", "2011-02-29", "2012-02-29", "2011-2-3", "2002-12-31", "2003-01-01", TODAY.isoformat(),
    (TODAY + timedelta(days=1)).isoformat(), "2999-12-31", "J18", "J18.9", "j18", "A00.0000", "Z99.99999",
    "outpatient", "inpatient", "INPATIENT", "drug", "Drug", "head", "central", "x", "X",
    ID, ID_X.lower(), WRONG_CHECK, ID[:15], ID[:17], national_id(born="19900230"),
]
MUTATIONS = [
    lambda v: " " + v, lambda v: v + " ", lambda v: "\u3000" + v, lambda v: v + "\n", lambda v: "\x1c" + v,
    str.upper, str.lower, str.swapcase, lambda v: v.translate(FULLWIDTH), lambda v: v + "\ufffd",
    lambda v: v * 3, lambda v: v + "0", lambda v: v[:-1], lambda v: v[1:], lambda v: "-" + v,
    lambda v: v + ".001", lambda v: v + ".5", lambda v: v.replace("-", "/"), lambda v: v.replace(".", ","),
    lambda v: v.replace("-0", "-"), lambda v: v[:8] + "30", lambda v: v[:5] + "02-29",
]


def nasty(value: str | None) -> st.SearchStrategy[str | None]:
    options = [st.sampled_from(NASTY)]
    if value:
        options.append(st.sampled_from(MUTATIONS).map(lambda f: f(value)))
        options.append(st.tuples(st.text(st.characters(exclude_categories=("Cs",)), max_size=2),
                                 st.text(st.characters(exclude_categories=("Cs",)), max_size=2))
                       .map(lambda ab: ab[0] + value + ab[1]))
    return st.one_of(options)


def money(fen: int, draw: st.DrawFn) -> str:
    """An amount in one of the ways a county may write it: 12, 12.5 or 12.50."""
    yuan, cents = divmod(fen, 100)
    forms = [f"{yuan}.{cents:02d}"]
    if cents % 10 == 0:
        forms.append(f"{yuan}.{cents // 10}")
    if cents == 0:
        forms.append(str(yuan))
    return draw(st.sampled_from(forms))


def a_date(draw: st.DrawFn, low: date = date(2003, 1, 1), high: date = TODAY) -> date:
    return low + timedelta(days=draw(st.integers(0, (high - low).days)))


def a_national_id(draw: st.DrawFn) -> str:
    area = draw(st.sampled_from(PROVINCES)) + "0121"
    number = national_id(area, a_date(draw, date(1880, 1, 1)).strftime("%Y%m%d"), f"{draw(st.integers(0, 999)):03d}")
    return draw(st.sampled_from([number, number.lower(), f" {number} "]))


def valid_member(draw: st.DrawFn) -> dict[str, str | None]:
    optional = st.one_of(st.none(), st.sampled_from(["双流镇", "金中镇", "Village 3"]))
    return dict(member_no=f"M{draw(st.integers(0, 10**9))}", household_no=f"H{draw(st.integers(0, 10**6))}",
                national_id=a_national_id(draw), name=draw(st.sampled_from(["张三", "李四", "欧阳娜娜", "Ma Li"])),
                relation=draw(st.sampled_from([None, "head", "spouse", "child", "parent", "other"])),
                township=draw(optional), village=draw(optional),
                death_date=draw(st.sampled_from([None, a_date(draw).isoformat()])))


def valid_enrolment(draw: st.DrawFn) -> dict[str, str | None]:
    return dict(member_no=f"M{draw(st.integers(0, 10**9))}", year=str(draw(st.integers(2003, 2100))),
                contribution=money(draw(st.integers(0, 10**6)), draw),
                enrolled_on=draw(st.sampled_from([None, a_date(draw).isoformat()])))


def valid_claim(draw: st.DrawFn) -> dict[str, str | None]:
    inpatient = draw(st.booleans())
    admitted = a_date(draw, high=TODAY - timedelta(days=40))
    end = admitted + timedelta(days=draw(st.integers(0, 30)) if inpatient else 0)
    settled = end + timedelta(days=draw(st.integers(0, 9)))
    total = draw(st.one_of(st.integers(0, 10**7), st.integers(0, 10**14 - 1)))
    eligible = draw(st.integers(0, total))
    return dict(claim_id=f"C{draw(st.integers(0, 10**9))}", kind="inpatient" if inpatient else "outpatient",
                member_no="M1", national_id=a_national_id(draw), institution_code="520121200001",
                admission_date=admitted.isoformat(), discharge_date=end.isoformat() if inpatient else None,
                settlement_date=settled.isoformat(), diagnosis_code=draw(st.sampled_from(["J18", "J18.9", "K35.80"])),
                total_amount=money(total, draw), eligible_amount=money(eligible, draw),
                compensated_amount=money(draw(st.integers(0, eligible)), draw),
                referral=draw(st.sampled_from([None, "0", "1"])), voided=draw(st.sampled_from([None, "0", "1"])))


def valid_item(draw: st.DrawFn) -> dict[str, str | None]:
    thousandths = draw(st.one_of(st.integers(1, 100_000), st.integers(1, 999_999_000)))
    quantity = Decimal(thousandths) / 1000
    fen = draw(st.one_of(st.integers(0, 100_000), st.integers(0, 10**14 - 1)))
    expected = (quantity * fen).quantize(Decimal(1), ROUND_HALF_UP)
    amount = min(max(int(expected) + draw(st.integers(-1, 1)), 0), 10**14 - 1)
    return dict(claim_id=f"C{draw(st.integers(0, 10**9))}", line_no=str(draw(st.integers(1, 99999))),
                item_code=draw(st.sampled_from(["86900134000015", "110900001", "UNKNOWN-1"])),
                item_name=draw(st.sampled_from([None, "床位费", "阿莫西林胶囊"])),
                category=draw(st.sampled_from(["drug", "exam", "lab", "treatment", "material", "bed", "other"])),
                quantity=draw(st.sampled_from(sorted({f"{quantity:f}", f"{quantity.normalize():f}"}))),
                unit_price=money(fen, draw), amount=money(amount, draw))


def valid_financing(draw: st.DrawFn) -> dict[str, str | None]:
    return dict(year=str(draw(st.integers(2003, 2100))), month=str(draw(st.integers(1, 12))),
                source=draw(st.sampled_from(["individual", "central", "provincial", "local", "other"])),
                amount=money(draw(st.integers(0, 10**14 - 1)), draw))


VALID = {"member": valid_member, "enrolment": valid_enrolment, "claim": valid_claim,
         "claim_item": valid_item, "financing": valid_financing}


@st.composite
def mutated_row(draw: st.DrawFn, record_type: str) -> dict[str, str | None]:
    row = VALID[record_type](draw)
    for name in draw(st.lists(st.sampled_from(list(row)), max_size=3, unique=True)):
        row[name] = draw(nasty(row[name]))
    return row


@pytest.mark.parametrize("record_type", list(RECORD_SCHEMAS))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_screen_and_marshmallow_agree(record_type, data):
    schema_cls = RECORD_SCHEMAS[record_type]
    rows = data.draw(st.lists(mutated_row(record_type), min_size=30, max_size=50))
    result = screen(schema_cls, frame(rows), today=TODAY, file="f.csv")
    schema = schema_cls(today=TODAY)
    lines = range(2, 2 + len(rows))
    refused = {p.line for p in result.problems}
    assert refused.isdisjoint(result.good[LINE].to_list())
    assert refused | set(result.good[LINE].to_list()) == set(lines)
    for line, row in zip(lines, rows):
        assert (line in refused) == bool(schema.validate(row)), (row, schema.validate(row))
        assert "screen_mismatch" not in {p.code for p in result.problems if p.line == line}, row


# --- what screen() hands on ----------------------------------------------------------

def test_good_rows_have_national_ids_stripped_and_upper_cased():
    rows = [claim(claim_id="C1", national_id=f"  {ID_X.lower()}\t"), claim(claim_id="C2", national_id=f"\u3000{ID}")]
    result = screen(ClaimRecord, frame(rows), today=TODAY, file="claims.csv")
    assert result.problems == []
    assert result.good["national_id"].to_list() == [ID_X, ID]
    assert result.good[LINE].to_list() == [2, 3]


def test_good_rows_keep_only_the_schemas_columns_and_missing_optional_ones_are_empty():
    rows = [{k: v for k, v in item().items() if k != "item_name"} | {"extra": "ignored"}]
    result = screen(ClaimItemRecord, frame(rows), today=TODAY, file="claim_items.csv")
    assert result.problems == []
    assert result.good.columns == [*ClaimItemRecord.specs(), LINE]
    assert result.good["item_name"].to_list() == [None]


def test_problems_name_file_line_field_and_what_is_allowed():
    rows = [claim(), claim(claim_id="C2", kind="Outpatient", total_amount="1,000.00"), claim(claim_id="C3")]
    result = screen(ClaimRecord, frame(rows, first_line=10), today=TODAY, file="claims.csv")
    assert result.good[LINE].to_list() == [10, 12]
    by_field = {p.field: p for p in result.problems}
    assert set(by_field) == {"kind", "total_amount"}
    kind, total = by_field["kind"], by_field["total_amount"]
    assert (kind.file, kind.line, kind.code, kind.value) == ("claims.csv", 11, "not_in_list", "Outpatient")
    assert kind.messages == ("字段 kind 的取值不在代码表中（允许：one of outpatient, inpatient）",
                             "field kind is not in the code list (allowed: one of outpatient, inpatient)")
    assert total.code == "not_decimal"
    assert "total_amount" in total.messages[0] and "at most 2 decimals" in total.messages[0]
    assert total.messages[1] == ("field total_amount is not a valid number "
                                 "(allowed: a number with at most 2 decimals from 0 up to 999999999999.99)")


def test_too_long_and_row_rule_messages():
    rows = [claim(member_no="M" * 33), claim(claim_id="C2", settlement_date="2024-03-01")]
    result = screen(ClaimRecord, frame(rows), today=TODAY, file="claims.csv")
    first, second = result.problems
    assert first.messages[1] == "field member_no is too long (allowed: text, at most 32 characters)"
    assert "member_no" in first.messages[0] and "32" in first.messages[0]
    assert (second.line, second.field, second.code) == (3, "settlement_date", "date_order")
    assert "admission_date ≤ discharge_date ≤ settlement_date" in second.messages[1]


def test_national_id_problem_is_masked_in_the_message():
    result = screen(ClaimRecord, frame([claim(national_id=WRONG_CHECK)]), today=TODAY, file="claims.csv")
    (problem,) = result.problems
    assert problem.code == "national_id"
    assert WRONG_CHECK not in " ".join(problem.messages)
    assert "check character" in problem.messages[1]
    assert shown_value(problem.value, problem.field) == WRONG_CHECK[:6] + "*" * 8 + WRONG_CHECK[14:]


@pytest.mark.parametrize("raw", [f" {WRONG_CHECK} ", WRONG_CHECK + "0", ID[:17]])
def test_refused_national_id_is_masked_in_the_receipt_value(raw):
    problem = Problem("claim", "claims.csv", 2, "national_id", raw, "national_id", spec=SPEC["national_id"])
    assert ID[6:14] not in shown_value(problem.value, problem.field)


def test_padded_identifiers_leave_the_screen_trimmed_and_spaces_alone_are_empty():
    """Identifiers pass their length check padded: the screen flags the padding itself, and
    the second, trimmed look loads them as the trimmed code; a code of spaces is empty."""
    rows = [claim(claim_id=" C1\u3000", institution_code="520121200001 ", total_amount=" 100.10"),
            claim(claim_id="C2", member_no="\u3000 ")]
    result = screen(ClaimRecord, frame(rows), today=TODAY, file="claims.csv")
    assert result.good.select("claim_id", "institution_code", "total_amount", LINE).rows() == [
        ("C1", "520121200001", "100.10", 2)]
    assert [(p.line, p.field, p.code) for p in result.problems] == [(3, "member_no", "required")]
