"""Working days (工作日) and the county's deadline to answer a pushed finding.

``config/calendar.yaml`` lists the public holidays that fall on weekdays and the weekend days
worked instead (调休), year by year, and how many working days a county has to answer
(``response_working_days``). Without the file, Monday to Friday are working days and a county
has 15 of them."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ncms.config import ConfigError
from ncms.configfile import line_of, place, read_yaml, whole_number

FILE = "calendar.yaml"
BEIJING = timezone(timedelta(hours=8))  # deadlines are days of the province's clock, not of UTC
DEFAULT_RESPONSE_DAYS = 15


@dataclass(frozen=True)
class WorkCalendar:
    holidays: frozenset[date] = field(default_factory=frozenset)  # weekdays off
    workdays: frozenset[date] = field(default_factory=frozenset)  # weekend days worked
    response_working_days: int = DEFAULT_RESPONSE_DAYS

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays

    def add_working_days(self, start: date, days: int) -> date:
        """The ``days``-th working day after ``start`` (``start`` itself not counted)."""
        day, left = start, days
        while left > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                left -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after ``start`` up to and including ``end`` (negative when ``end`` is earlier)."""
        if end < start:
            return -self.working_days_between(end, start)
        return sum(self.is_working_day(start + timedelta(days=n)) for n in range(1, (end - start).days + 1))

    def deadline(self, pushed_on: date) -> date:
        """When a county's answer to a finding pushed on ``pushed_on`` is due."""
        return self.add_working_days(pushed_on, self.response_working_days)


def local_day(moment: datetime | None = None) -> date:
    """The day it is (or was at ``moment``) in China: a push at 07:00 Beijing time is that day's,
    though UTC still says yesterday; and a deadline has passed once that day is over there."""
    moment = moment or datetime.now(timezone.utc)
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(BEIJING).date()


def read_calendar(config_dir: Path) -> WorkCalendar:
    path = config_dir / FILE
    if not path.exists():
        return WorkCalendar()
    raw: Any = read_yaml(path) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping (holidays, workdays, response_working_days)")
    days = whole_number(place(path, line_of(raw, "response_working_days"), "response_working_days"),
                        raw.get("response_working_days", DEFAULT_RESPONSE_DAYS), least=1)
    return WorkCalendar(_dates(path, raw, "holidays"), _dates(path, raw, "workdays"), days)


def _dates(path: Path, raw: dict[str, Any], key: str) -> frozenset[date]:
    values = raw.get(key) or []
    if not isinstance(values, list):
        raise ConfigError(f"{place(path, line_of(raw, key), key)}: expected a list of dates (YYYY-MM-DD)")
    found = set()
    for index, value in enumerate(values):
        if isinstance(value, str):
            try:
                value = date.fromisoformat(value)
            except ValueError:
                pass
        if not isinstance(value, date):
            raise ConfigError(f"{place(path, line_of(values, index), f'{key}[{index}]')}: "
                              f"{value!r} is not a date (YYYY-MM-DD)")
        found.add(value)
    return frozenset(found)
