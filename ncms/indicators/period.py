"""The period an indicator is for: a month, a quarter or a year, written as the ministry's
reports name them ("2011-07", "2011-Q3", "2011")."""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

YEAR, QUARTER, MONTH = "year", "quarter", "month"
KINDS = (YEAR, QUARTER, MONTH)
FORMS = "a year (2011), a quarter (2011-Q3) or a month (2011-07)"
_PATTERN = re.compile(r"^(\d{4})(?:-(?:[Qq]([1-4])|(\d{1,2})))?$")


class PeriodError(ValueError):
    """Text that names no period; the message says what is allowed."""


@dataclass(frozen=True, order=True)
class Period:
    """``kind`` (year, quarter, month), ``year`` and ``number``: the quarter (1-4) or the month
    (1-12); 0 for a year."""

    kind: str
    year: int
    number: int = 0

    def __post_init__(self) -> None:
        top = {YEAR: 0, QUARTER: 4, MONTH: 12}.get(self.kind)
        if top is None:
            raise PeriodError(f"period kind {self.kind!r}: allowed: {', '.join(KINDS)}")
        if not (1900 <= self.year <= 9999) or (top and not 1 <= self.number <= top) or (not top and self.number):
            raise PeriodError(f"{self.kind} {self.year}/{self.number}: not a period; give {FORMS}")

    @classmethod
    def parse(cls, text: str) -> "Period":
        match = _PATTERN.match(str(text).strip())
        if not match:
            raise PeriodError(f"{text!r} is not a period; give {FORMS}")
        year, quarter, month = match.groups()
        if quarter:
            return cls(QUARTER, int(year), int(quarter))
        if month:
            if not 1 <= int(month) <= 12:
                raise PeriodError(f"{text!r}: month {int(month)} does not exist; give {FORMS}")
            return cls(MONTH, int(year), int(month))
        return cls(YEAR, int(year))

    @classmethod
    def of_day(cls, day: date, kind: str = MONTH) -> "Period":
        """The period of ``kind`` that ``day`` falls in."""
        return {YEAR: cls(YEAR, day.year), QUARTER: cls(QUARTER, day.year, (day.month - 1) // 3 + 1),
                MONTH: cls(MONTH, day.year, day.month)}[kind]

    @property
    def first_month(self) -> int:
        return {YEAR: 1, QUARTER: 3 * self.number - 2, MONTH: self.number}[self.kind]

    @property
    def last_month(self) -> int:
        return {YEAR: 12, QUARTER: 3 * self.number, MONTH: self.number}[self.kind]

    @property
    def months(self) -> tuple[tuple[int, int], ...]:
        """Its (year, month)s."""
        return tuple((self.year, m) for m in range(self.first_month, self.last_month + 1))

    @property
    def start(self) -> date:
        return date(self.year, self.first_month, 1)

    @property
    def end(self) -> date:
        return date(self.year, self.last_month, calendar.monthrange(self.year, self.last_month)[1])

    @property
    def label(self) -> str:
        return {YEAR: f"{self.year}", QUARTER: f"{self.year}-Q{self.number}",
                MONTH: f"{self.year}-{self.number:02d}"}[self.kind]

    def __str__(self) -> str:
        return self.label
