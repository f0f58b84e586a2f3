"""Timeliness: which county sent what, when, and which package never arrived."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ncms.models import Batch, BatchStatus, County, DeploymentMode

USABLE = (BatchStatus.LOADED, BatchStatus.PARTIAL)


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
