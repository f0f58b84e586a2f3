"""National IDs and county codes. Every ID here is built from a synthetic body, never a real one."""
from __future__ import annotations

import pickle
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ncms.ids import (
    InvalidId,
    NationalId,
    is_valid_national_id,
    mask_national_id,
    national_id_check_character,
    parse_national_id,
    validate_county_code,
)

TODAY = date(2024, 6, 1)
PROVINCES = [
    *range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47),
    *range(50, 55), *range(61, 66), 71, 81, 82,
]


def make_id(area: str = "520121", born: str = "19900101", sequence: str = "123") -> str:
    body = area + born + sequence
    return body + national_id_check_character(body)


def oracle_check_character(body: str) -> str:
    """ISO 7064 MOD 11-2 from its definition (weight 2**(i-1) mod 11 counted from the
    right, check position included), independent of the weight table in ncms.ids."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(body))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def x_sequence() -> str:
    for n in range(1000):
        if national_id_check_character(f"52012119900101{n:03d}") == "X":
            return f"{n:03d}"
    raise AssertionError("no sequence gives check character X")


def rejection(value: str, **kwargs) -> InvalidId:
    with pytest.raises(InvalidId) as excinfo:
        parse_national_id(value, **kwargs)
    return excinfo.value


# --- check character -------------------------------------------------------

def test_check_character_known_values():
    assert national_id_check_character("52012119900101123") == oracle_check_character(
        "52012119900101123"
    )
    # sum 0 -> "1", sum 2 -> "X": the two ends of the "10X98765432" table
    assert national_id_check_character("0" * 17) == "1"
    assert national_id_check_character("0" * 16 + "1") == "X"  # last weight is 2


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_character_matches_the_iso_7064_definition(body):
    assert national_id_check_character(body) == oracle_check_character(body)


@pytest.mark.parametrize("body", ["5201211990010112", "5201211990010112A", "５" * 17])
def test_check_character_needs_17_ascii_digits(body):
    with pytest.raises(InvalidId):
        national_id_check_character(body)


# --- valid IDs ---------------------------------------------------------------

def test_parse_valid_id():
    number = make_id(sequence="123")
    parsed = parse_national_id(f"  {number}\n", today=TODAY)
    assert parsed == NationalId(number, "520121", date(1990, 1, 1), "123", "M")
    assert is_valid_national_id(number)


def test_check_character_x_and_lowercase_x():
    sequence = x_sequence()
    number = f"52012119900101{sequence}X"
    assert parse_national_id(number, today=TODAY).number == number
    parsed = parse_national_id(number.lower(), today=TODAY)
    assert parsed.number == number  # stored upper-case
    assert is_valid_national_id(number.lower())


@pytest.mark.parametrize("sequence, sex", [("123", "M"), ("001", "M"), ("124", "F"), ("000", "F")])
def test_sex_from_sequence_parity(sequence, sex):
    assert parse_national_id(make_id(sequence=sequence), today=TODAY).sex == sex


def test_birth_date_and_age_on():
    parsed = parse_national_id(make_id(born="19900615"), today=TODAY)
    assert parsed.birth_date == date(1990, 6, 15)
    assert parsed.age_on(date(2020, 6, 14)) == 29
    assert parsed.age_on(date(2020, 6, 15)) == 30
    assert parsed.age_on(date(1990, 6, 15)) == 0
    with pytest.raises(ValueError):
        parsed.age_on(date(1990, 6, 14))


def test_age_of_a_leap_day_birth():
    parsed = parse_national_id(make_id(born="20000229"), today=TODAY)
    assert parsed.birth_date == date(2000, 2, 29)
    assert parsed.age_on(date(2001, 2, 28)) == 0
    assert parsed.age_on(date(2001, 3, 1)) == 1


# --- rejections --------------------------------------------------------------

def test_wrong_check_character_names_the_expected_one():
    number = make_id()
    wrong = "0" if number[-1] != "0" else "1"
    error = rejection(number[:17] + wrong, today=TODAY)
    assert error.code == "check_character"
    assert repr(number[-1]) in str(error)
    assert error.value == number[:17] + wrong
    assert not is_valid_national_id(number[:17] + wrong)


@pytest.mark.parametrize("born", ["19990230", "19990229", "19991301", "19990001", "18791231"])
def test_impossible_birth_date(born):
    error = rejection(make_id(born=born), today=TODAY)
    assert error.code == "birth_date"
    assert born in str(error)


def test_earliest_birth_date_accepted():
    assert parse_national_id(make_id(born="18800101"), today=TODAY).birth_date == date(1880, 1, 1)


def test_birth_date_after_today():
    number = make_id(born="20240602")
    assert rejection(number, today=TODAY).code == "birth_date"
    assert parse_national_id(number, today=date(2024, 6, 2)).birth_date == date(2024, 6, 2)
    far_future = make_id(born=f"{date.today().year + 1}0101")
    assert rejection(far_future).code == "birth_date"  # default today is the real clock


def test_legacy_15_digit_id():
    error = rejection("520121900101123", today=TODAY)
    assert error.code == "legacy_15"
    assert "15-digit" in str(error) and "18-character" in str(error)
    assert "520121900101123" not in str(error)  # the message shows it masked


@pytest.mark.parametrize("value", ["", "5201", make_id() + "0", make_id()[:17], "ABCDEFGHIJKLMNO"])
def test_wrong_length(value):
    error = rejection(value, today=TODAY)
    assert error.code == "length"
    assert "18" in str(error)


@pytest.mark.parametrize("value, position", [
    ("52012119900101A23X", 15),
    ("5201211990010112Y3", 17),
    ("52012119900101123Y", 18),
    ("X20121199001011234", 1),
    ("５20121199001011234", 1),  # full-width digit from a GBK export
])
def test_letters_in_the_body(value, position):
    error = rejection(value, today=TODAY)
    assert error.code == "charset"
    assert f"position {position}" in str(error)


@pytest.mark.parametrize("area", ["000000", "100000", "160101", "200101", "380101", "470101",
                                  "550101", "660101", "720101", "830101", "990101"])
def test_bad_province_prefix(area):
    error = rejection(make_id(area=area), today=TODAY)
    assert error.code == "area"
    assert repr(area[:2]) in str(error)


@pytest.mark.parametrize("province", PROVINCES)
def test_every_listed_province_accepted(province):
    assert parse_national_id(make_id(area=f"{province}0101"), today=TODAY).area_code[:2] == (
        f"{province}"
    )


def test_invalid_id_survives_pickling():
    error = pickle.loads(pickle.dumps(rejection("5201", today=TODAY)))
    assert (error.code, error.value) == ("length", "5201")
    assert "18" in str(error)


# --- masking -----------------------------------------------------------------

def test_mask_valid_id():
    number = f"52012119900101{x_sequence()}X"
    assert mask_national_id(number) == "520121********" + number[14:]
    assert mask_national_id(number).endswith("X")
    assert parse_national_id(number, today=TODAY).masked == mask_national_id(number)
    assert mask_national_id(f" {number.lower()} ") == "520121********" + number[14:].lower()


@pytest.mark.parametrize("value, masked", [
    ("520121900101123", "52*************"),
    ("52012119900101A23X", "52****************"),
    ("5", "5"),
    ("", ""),
    (None, ""),
    (520121199001011234, "520121********1234"),
])
def test_mask_malformed_never_raises(value, masked):
    assert mask_national_id(value) == masked


# --- county codes ------------------------------------------------------------

def test_valid_county_code():
    assert validate_county_code("520121") == "520121"
    assert validate_county_code("520121", province="52") == "520121"


@pytest.mark.parametrize("code, hint", [
    ("520100", "prefecture"),
    ("520000", "prefecture"),
    ("52012", "6 ASCII digits"),
    ("52012A", "6 ASCII digits"),
    ("990121", "province code"),
])
def test_county_code_rejected(code, hint):
    with pytest.raises(InvalidId) as excinfo:
        validate_county_code(code)
    assert excinfo.value.code == "county_code"
    assert excinfo.value.value == code
    assert hint in str(excinfo.value)


def test_county_code_in_another_province():
    with pytest.raises(InvalidId) as excinfo:
        validate_county_code("530102", province="52")
    assert excinfo.value.code == "county_code"
    assert "province 52" in str(excinfo.value)


# --- property ----------------------------------------------------------------

@given(
    province=st.sampled_from(PROVINCES),
    rest_of_area=st.text(alphabet="0123456789", min_size=4, max_size=4),
    born=st.dates(min_value=date(1880, 1, 1), max_value=TODAY),
    sequence=st.integers(min_value=0, max_value=999),
)
def test_computed_check_character_parses_and_any_other_fails(
    province, rest_of_area, born, sequence
):
    body = f"{province}{rest_of_area}{born:%Y%m%d}{sequence:03d}"
    check = national_id_check_character(body)
    parsed = parse_national_id(body + check, today=TODAY)
    assert parsed.birth_date == born
    assert parsed.sex == ("M" if sequence % 2 else "F")
    for other in "0123456789X":
        if other != check:
            with pytest.raises(InvalidId) as excinfo:
                parse_national_id(body + other, today=TODAY)
            assert excinfo.value.code == "check_character"
