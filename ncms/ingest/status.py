"""Timeliness: which county sent what, when, which package never arrived, and how far behind
it is against the periods it should have sent by now.

A county is judged against its expected cadence (``expected_cadence`` and ``grace_days`` in
``province.yaml``): a period is due ``grace_days`` after it ends. Within the data's own year:
when the province's newest data is of a year before last (a historic year loaded long after),
that year is judged as closed, every period of it due, not against today's date.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ncms.configfile import choice, line_of, place, whole_number
from ncms.models import Batch, BatchStatus, County, DeploymentMode

USABLE = (BatchStatus.LOADED, BatchStatus.PARTIAL)
CADENCES = {"monthly": 1, "quarterly": 3, "yearly": 12}  # months a period spans
UNITS = {1: "month", 3: "quarter", 12: "year"}
DEFAULT_GRACE_DAYS = 15


@dataclass(frozen=True)
class Cadence:
    """How often a county's data is due, and how many days after a period ends."""

    every: str = "monthly"
    grace_days: int = DEFAULT_GRACE_DAYS

    @property
    def months(self) -> int:
        return CADENCES[self.every]

    def period(self, day: date) -> int:
        """The number of the period ``day`` falls in, counted from year 0."""
        return (day.year * 12 + day.month - 1) // self.months

    def label(self, period: int) -> str:
        year, month = divmod(period * self.months, 12)
        return {1: f"{year}-{month + 1:02d}", 3: f"{year}-Q{month // 3 + 1}", 12: str(year)}[self.months]


def read_cadence(file: str, entry: Any, key: str, default: Cadence | None) -> Cadence:
    """``expected_cadence`` and ``grace_days`` of a county entry (``key`` ``counties[i]``) or of
    the whole province (``key`` empty); what is not given comes from ``default``."""
    base, prefix = default or Cadence(), f"{key}." if key else ""
    every, grace = base.every, base.grace_days
    if isinstance(entry, dict) and entry.get("expected_cadence") is not None:
        every = choice(place(file, line_of(entry, "expected_cadence"), f"{prefix}expected_cadence"),
                       entry["expected_cadence"], CADENCES)
    if isinstance(entry, dict) and entry.get("grace_days") is not None:
        grace = whole_number(place(file, line_of(entry, "grace_days"), f"{prefix}grace_days"), entry["grace_days"])
    return Cadence(every, grace)


@dataclass(frozen=True)
class Lateness:
    """Periods due by the judging day and not received: ``behind`` of them, the first ``first``."""

    cadence: Cadence
    due: int | None  # the newest period due
    behind: int | None  # None: nothing received
    first: int | None = None

    @property
    def late(self) -> bool:
        return self.behind is None or self.behind > 0

    def describe(self) -> str:
        if self.behind is None:
            return "nothing received"
        if not self.behind:
            return "on time"
        unit = UNITS[self.cadence.months] + ("s" if self.behind > 1 else "")
        first, last = self.cadence.label(self.first), self.cadence.label(self.due)
        if first[:4] == last[:4] and self.cadence.months < 12:
            return f"{self.behind} {unit} of {first[:4]} ({first} to {last})" if self.behind > 1 \
                else f"1 {unit} of {first[:4]} ({first})"
        return f"{self.behind} {unit} ({first} to {last})" if self.behind > 1 else f"1 {unit} ({first})"


@dataclass
class CountyStatus:
    county_code: str
    name: str
    mode: DeploymentMode
    batches: int = 0
    last_received_at: datetime | None = None
    last_sequence: int | None = None
    last_period_end: date | None = None
    missing_sequences: list[int] = field(default_factory=list)
    refused_sequences: list[int] = field(default_factory=list)

    def days_behind(self, today: date) -> int | None:
        """Days between the end of the newest period loaded and ``today``."""
        return (today - self.last_period_end).days if self.last_period_end else None

    def judge(self, cadence: Cadence, today: date, newest: date | None) -> Lateness:
        """How many periods this county is behind on ``today``; ``newest`` is the end of the
        province's newest data, which says which year is being judged."""
        if newest is not None and newest.year < today.year - 1:
            due = cadence.period(date(newest.year, 12, 31))  # a historic year: judged whole
        else:
            due = cadence.period(today - timedelta(days=cadence.grace_days)) - 1
        if self.last_period_end is None:
            return Lateness(cadence, due, None)
        sent = cadence.period(self.last_period_end)
        return Lateness(cadence, due, max(0, due - sent), sent + 1)


def judge_all(statuses: list[CountyStatus], cadence: Mapping[str, Cadence], today: date) -> dict[str, Lateness]:
    """Each county's lateness on ``today``, every county judged within the same year."""
    newest = max((s.last_period_end for s in statuses if s.last_period_end), default=None)
    return {s.county_code: s.judge(cadence.get(s.county_code, Cadence()), today, newest) for s in statuses}


def timeliness(session: Session) -> list[CountyStatus]:
    statuses = {c.code: CountyStatus(c.code, c.name, c.mode)
                for c in session.scalars(sa.select(County).order_by(County.code))}
    rows = session.execute(
        sa.select(Batch.county_code, Batch.package_seq, Batch.status, Batch.received_at, Batch.period_end,
                  Batch.counts)
        .order_by(Batch.county_code, Batch.received_at)
    )
    loaded: dict[str, set[int]] = {}
    refused: dict[str, set[int]] = {}
    for county, seq, status, received_at, period_end, counts in rows:
        s = statuses[county]
        s.batches += 1
        s.last_received_at = max(filter(None, (s.last_received_at, received_at)), default=None)
        if seq is None:  # an extract: its claims' settlement dates say how current the county is
            if (status in USABLE and period_end and _has_claims(counts)
                    and (s.last_period_end is None or period_end > s.last_period_end)):
                s.last_period_end = period_end
            continue
        (loaded if status in USABLE else refused).setdefault(county, set()).add(seq)
        if status in USABLE and (s.last_sequence is None or seq > s.last_sequence):
            s.last_sequence, s.last_period_end = seq, period_end
    for county, s in statuses.items():
        got = loaded.get(county, set())
        top = max(got | refused.get(county, set()), default=0)
        s.missing_sequences = [n for n in range(1, top + 1) if n not in got]
        s.refused_sequences = sorted(refused.get(county, set()) - got)
    return list(statuses.values())


def _has_claims(counts: dict | None) -> bool:
    files = (counts or {}).get("files", {}).values()
    return any(f.get("record_type") == "claim" and f.get("rows") for f in files)
