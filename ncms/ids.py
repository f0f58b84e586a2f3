"""Identifiers of the domain: national ID numbers and county codes (domain.md §5).

Enrolment, duplicate-enrolment checks and the sex- and age-restricted rules all
key on these, so they are checked once, here, and the rest of the platform can
trust a parsed value. Error messages carry the masked number, never the whole
one, because they end up in rejection reports read by county staff.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"
_PROVINCE_CODES = frozenset(
    f"{n:02d}"
    for n in (*range(11, 16), *range(21, 24), *range(31, 38), *range(41, 47),
              *range(50, 55), *range(61, 66), 71, 81, 82)
)
_EARLIEST_BIRTH = date(1880, 1, 1)
# ASCII only: str.isdigit() and \d would let full-width digits from GBK exports through.
_BODY = re.compile(r"[0-9]{17}")
_SHAPE = re.compile(r"[0-9]{17}[0-9X]")


class InvalidId(ValueError):
    """Carries a machine ``code`` so batch validation can count rejections by reason."""

    def __init__(self, code: str, value: object, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.value = value

    def __reduce__(self):  # keeps it picklable across worker processes
        return (type(self), (self.code, self.value, str(self)))


@dataclass(frozen=True)
class NationalId:
    number: str
    area_code: str
    birth_date: date
    sequence: str
    sex: str

    def age_on(self, day: date) -> int:
        """Completed years, as age-restricted rules count them on the day of care."""
        if day < self.birth_date:
            raise ValueError(
                f"{day} is before the birth date {self.birth_date}; pass a day on or after it"
            )
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - int(before_birthday)

    @property
    def masked(self) -> str:
        return mask_national_id(self.number)


def national_id_check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2, as GB 11643 prescribes; also used to build test IDs."""
    if not isinstance(first17, str) or not _BODY.fullmatch(first17):
        raise InvalidId(
            "charset", first17, "the body of a national ID must be exactly 17 ASCII digits 0-9"
        )
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS))
    return _CHECK_CHARACTERS[total % 11]


def parse_national_id(value: str, *, today: date | None = None) -> NationalId:
    """Reject in the order a clerk would fix things: length, characters, area, date, check."""
    number = value.strip().upper()
    shown = mask_national_id(number)
    if re.fullmatch(r"[0-9]{15}", number):
        raise InvalidId("legacy_15", value, (
            f"national ID {shown} is a 15-digit first-generation number, which is no longer "
            "accepted; the county must send the member's 18-character ID number"))
    if len(number) != 18:
        raise InvalidId("length", value, (
            f"national ID {shown} has {len(number)} characters; it must have exactly 18 "
            "(17 digits and a check character 0-9 or X)"))
    if not _SHAPE.fullmatch(number):
        bad = next(
            i for i, c in enumerate(number) if not (c in "0123456789" or (i == 17 and c == "X"))
        )
        raise InvalidId("charset", value, (
            f"national ID {shown} has {number[bad]!r} at position {bad + 1}; "
            "positions 1-17 must be digits 0-9 and position 18 a digit or X"))
    if number[:2] not in _PROVINCE_CODES:
        raise InvalidId("area", value, (
            f"national ID {shown} starts with {number[:2]!r}, which is not a GB/T 2260 province "
            "code; allowed: 11-15, 21-23, 31-37, 41-46, 50-54, 61-65, 71, 81, 82"))
    birth_date = _birth_date(number, value, shown, date.today() if today is None else today)
    expected = national_id_check_character(number[:17])
    if number[17] != expected:
        raise InvalidId("check_character", value, (
            f"national ID {shown} ends in {number[17]!r} but its first 17 digits give check "
            f"character {expected!r}; the number was mistyped, re-check it against the ID card"))
    sequence = number[14:17]
    return NationalId(number, number[:6], birth_date, sequence, "M" if int(sequence) % 2 else "F")


def _birth_date(number: str, value: str, shown: str, today: date) -> date:
    digits = number[6:14]
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        born = None
    if born is None or not _EARLIEST_BIRTH <= born <= today:
        raise InvalidId("birth_date", value, (
            f"national ID {shown} has birth date {digits} (positions 7-14), which is not a real "
            f"date between {_EARLIEST_BIRTH:%Y%m%d} and {today:%Y%m%d} in YYYYMMDD form"))
    return born


def is_valid_national_id(value: str) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parse_national_id(value)
    except InvalidId:
        return False
    return True


def mask_name(name: str | None) -> str:
    """张三 -> 张*, 欧阳娜娜 -> 欧***, Li Wei -> L* W**: the first character of each word kept."""
    if not name:
        return ""
    words = str(name).split()
    if len(words) > 1:
        return " ".join(w[0] + "*" * (len(w) - 1) for w in words)
    text = words[0] if words else ""
    return text[0] + "*" * max(1, len(text) - 1)


def mask_national_id(value: str) -> str:
    """Safe to call on anything a county sends, because it runs on display paths."""
    text = "" if value is None else str(value).strip()
    if len(text) == 18 and _SHAPE.fullmatch(text.upper()):
        return text[:6] + "*" * 8 + text[14:]
    return text[:2] + "*" * max(0, len(text) - 2)


def validate_county_code(code: str, province: str | None = None) -> str:
    """A county is the pooling unit, so a prefecture or province code is refused."""
    text = code.strip() if isinstance(code, str) else ""
    if not re.fullmatch(r"[0-9]{6}", text):
        problem = "it must be 6 ASCII digits (GB/T 2260), e.g. 520121"
    elif text[:2] not in _PROVINCE_CODES:
        problem = ("its first two digits are not a GB/T 2260 province code; allowed: "
                   "11-15, 21-23, 31-37, 41-46, 50-54, 61-65, 71, 81, 82")
    elif text.endswith("00"):
        problem = "it ends in 00, which names a prefecture or province; give the county's own code"
    elif province is not None and text[:2] != province:
        problem = f"it is not in province {province}; give a code starting with {province}"
    else:
        return text
    raise InvalidId("county_code", code, f"county code {code!r} is refused: {problem}")
