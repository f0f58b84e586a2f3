"""The rule engine: run the catalogue over a county's claims and file what it finds.

Findings are written idempotently: one finding per rule and subject, updated on a rerun,
never duplicated. A finding keeps the rule version and the parameter values that raised it.
A finding in the run's scope that no longer holds (the data was corrected, or a parameter
changed) is closed with the reason, unless an auditor has already decided it (confirmed or
dismissed): that review stays, and the change is written to its history instead. Every rule
run is recorded (rows scanned, hits, seconds).
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ncms import log
from ncms.config import Settings
from ncms.db import session_scope
from ncms.models import Claim, County, Finding, FindingEvent, FindingEventKind, FindingStatus, RuleRun
from ncms.models.base import utcnow

from .catalogue import CATALOGUE, Rule, Scope
from .settings import read_rule_settings

logger = logging.getLogger("ncms.monitor")
UNDECIDED = (FindingStatus.OPEN, FindingStatus.SENT_TO_COUNTY, FindingStatus.COUNTY_RESPONDED)


@dataclass
class RuleOutcome:
    rule_code: str
    county_code: str
    rows_scanned: int
    hits: int
    raised: int
    closed: int
    amount: Decimal
    seconds: float


@dataclass
class MonitorResult:
    run_id: str
    outcomes: list[RuleOutcome] = field(default_factory=list)

    @property
    def hits(self) -> int:
        return sum(o.hits for o in self.outcomes)

    @property
    def amount(self) -> Decimal:
        return sum((o.amount for o in self.outcomes), Decimal("0"))


def run_monitor(engine: Engine, settings: Settings, *, counties: list[str] | None = None,
                period: tuple[date, date] | None = None, rules: list[str] | None = None) -> MonitorResult:
    """Run every enabled rule (or ``rules``) over the counties' claims settled in ``period``
    (default: all of them). A rule is one query for all the counties that give it the same
    settings (usually all of them); its findings are then filed county by county."""
    rule_settings = read_rule_settings(settings.config_dir)
    with engine.connect() as conn:
        counties = counties or list(conn.scalars(sa.select(County.code).order_by(County.code)))
        scanned = dict(conn.execute(sa.select(Claim.county_code, sa.func.count())
                                    .where(*Scope(tuple(counties), period).claims(Claim)).group_by(Claim.county_code)).all())
    result = MonitorResult(uuid.uuid4().hex[:12])
    for rule in CATALOGUE:
        if rules and rule.code not in rules:
            continue
        groups: dict[str, tuple[Any, list[str]]] = {}
        for county in counties:
            chosen = rule_settings.for_county(rule, county)
            if chosen.enabled:
                same = json.dumps([chosen.params, chosen.severity.value], sort_keys=True, default=str)
                groups.setdefault(same, (chosen, []))[1].append(county)
        for chosen, group in groups.values():
            started = time.perf_counter()
            with session_scope(engine) as session:
                hits = session.execute(rule.query(chosen.params, Scope(tuple(group), period))).mappings().all()
                by_county: dict[str, list[Any]] = {county: [] for county in group}
                for hit in hits:
                    by_county[hit["county_code"]].append(hit)
                filed = {county: _file(session, rule, chosen.params, chosen.severity, Scope((county,), period), found)
                         for county, found in by_county.items()}
                seconds = (time.perf_counter() - started) / len(group)  # shared evenly: one query for all
                for county, (raised, closed) in filed.items():
                    found = by_county[county]
                    outcome = RuleOutcome(rule.code, county, scanned.get(county, 0), len(found), raised, closed,
                                          sum((Decimal(h["amount"] or 0) for h in found), Decimal("0")), seconds)
                    session.add(RuleRun(run_id=result.run_id, rule_code=rule.code, rule_version=rule.version,
                                        county_code=county, period_start=period[0] if period else None,
                                        period_end=period[1] if period else None, parameters=chosen.params,
                                        rows_scanned=outcome.rows_scanned, hits=outcome.hits, raised=raised,
                                        closed=closed, seconds=seconds))
                    result.outcomes.append(outcome)
            log.event(logger, "monitor.rule", run=result.run_id, rule=rule.code, counties=len(group), hits=len(hits),
                      seconds=round(seconds * len(group), 3))
    return result


def _file(session: Session, rule: Rule, params: dict[str, Any], severity: Any, scope: Scope,
          hits: list[Any]) -> tuple[int, int]:
    """Raise, update, reopen and close this rule's findings in the scope; (raised, closed)."""
    in_scope = (sa.select(Finding).where(Finding.rule_code == rule.code, Finding.county_code.in_(scope.counties)))
    if scope.period:
        in_scope = in_scope.where(Finding.claim_id.in_(sa.select(Claim.id).where(*scope.claims(Claim))))
    existing = {f.subject_key: f for f in session.scalars(in_scope)}
    hit_keys = {h["subject_key"] for h in hits}
    if scope.period:  # a hit may be a finding whose claim moved out of the period's claims
        missing = hit_keys - set(existing)
        if missing:
            existing.update({f.subject_key: f for f in session.scalars(
                sa.select(Finding).where(Finding.rule_code == rule.code, Finding.subject_key.in_(missing)))})
    now, raised, closed = utcnow(), 0, 0
    values = dict(rule_version=rule.version, parameters=params, severity=severity, last_seen_at=now)
    for hit in hits:
        fields = dict(values, county_code=hit["county_code"], claim_id=hit["claim_id"],
                      institution_id=hit["institution_id"], amount_at_stake=Decimal(hit["amount"] or 0),
                      period_start=_day(hit["period_start"]), period_end=_day(hit["period_end"]),
                      evidence=_evidence(hit))
        finding = existing.get(hit["subject_key"])
        if finding is None:
            finding = Finding(rule_code=rule.code, subject_key=hit["subject_key"], first_seen_at=now, **fields)
            finding.events.append(FindingEvent(kind=FindingEventKind.RAISED, to_status=FindingStatus.OPEN,
                                               text=_why(rule, params)))
            session.add(finding)
            raised += 1
            continue
        for name, value in fields.items():
            setattr(finding, name, value)
        if finding.status is FindingStatus.CLOSED:
            finding.events.append(FindingEvent(kind=FindingEventKind.REOPENED, from_status=FindingStatus.CLOSED,
                                               to_status=FindingStatus.OPEN, text=f"holds again: {_why(rule, params)}"))
            finding.status, finding.closed_at, finding.closed_reason = FindingStatus.OPEN, None, None
    for key, finding in existing.items():
        if key in hit_keys or finding.status is FindingStatus.CLOSED:
            continue
        reason = f"no longer holds: {_why(rule, params)}"
        if finding.status in UNDECIDED:
            finding.events.append(FindingEvent(kind=FindingEventKind.CLOSED, from_status=finding.status,
                                               to_status=FindingStatus.CLOSED, text=reason))
            finding.status, finding.closed_at, finding.closed_reason = FindingStatus.CLOSED, now, reason
            closed += 1
        elif not finding.events or finding.events[-1].text != reason:  # decided by an auditor: the
            finding.events.append(FindingEvent(kind=FindingEventKind.UPDATED, text=reason))  # decision stands
    return raised, closed


def _why(rule: Rule, params: dict[str, Any]) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "no parameters"
    return f"rule {rule.code} version {rule.version} ({shown})"


def _evidence(hit: Any) -> dict[str, Any]:
    return {key[3:]: _plain(value) for key, value in hit.items() if key.startswith("ev_")}


def _day(value: Any) -> date | None:
    """A date a query returned (SQLite returns computed dates as text)."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def _plain(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value
