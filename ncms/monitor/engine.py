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
    """Raise, update, reopen and close this rule's findings in the scope; (raised, closed).
    In bulk: a run may file tens of thousands of findings, one statement per kind of change."""
    in_scope = (sa.select(Finding.id, Finding.subject_key, Finding.status)
                .where(Finding.rule_code == rule.code, Finding.county_code.in_(scope.counties)))
    if scope.period:
        in_scope = in_scope.where(Finding.claim_id.in_(sa.select(Claim.id).where(*scope.claims(Claim))))
    existing = {row.subject_key: row for row in session.execute(in_scope)}
    hit_keys = {h["subject_key"] for h in hits}
    if scope.period:  # a hit may be a finding whose claim moved out of the period's claims
        missing = list(hit_keys - set(existing))
        for start in range(0, len(missing), 500):
            existing.update({row.subject_key: row for row in session.execute(
                sa.select(Finding.id, Finding.subject_key, Finding.status)
                .where(Finding.rule_code == rule.code, Finding.subject_key.in_(missing[start:start + 500])))})
    now, why = utcnow(), _why(rule, params)
    values = dict(rule_version=rule.version, parameters=params, severity=severity, last_seen_at=now)
    new, seen, reopened = [], [], []
    for hit in hits:
        fields = dict(values, county_code=hit["county_code"], claim_id=hit["claim_id"],
                      institution_id=hit["institution_id"], amount_at_stake=Decimal(hit["amount"] or 0),
                      period_start=_day(hit["period_start"]), period_end=_day(hit["period_end"]),
                      evidence=_evidence(hit))
        finding = existing.get(hit["subject_key"])
        if finding is None:
            new.append(dict(fields, rule_code=rule.code, subject_key=hit["subject_key"], first_seen_at=now,
                            status=FindingStatus.OPEN))
        elif finding.status is FindingStatus.CLOSED:
            reopened.append(dict(fields, id=finding.id, status=FindingStatus.OPEN, closed_at=None, closed_reason=None))
        else:
            seen.append(dict(fields, id=finding.id))
    events = []
    if new:
        ids = session.scalars(sa.insert(Finding).returning(Finding.id, sort_by_parameter_order=True), new).all()
        events += [dict(finding_id=i, at=now, kind=FindingEventKind.RAISED, to_status=FindingStatus.OPEN, text=why)
                   for i in ids]
    for rows in (seen, reopened):
        if rows:
            session.execute(sa.update(Finding), rows)
    events += [dict(finding_id=row["id"], at=now, kind=FindingEventKind.REOPENED, from_status=FindingStatus.CLOSED,
                    to_status=FindingStatus.OPEN, text=f"holds again: {why}") for row in reopened]
    reason = f"no longer holds: {why}"
    gone = [f for key, f in existing.items() if key not in hit_keys and f.status is not FindingStatus.CLOSED]
    undecided = [f for f in gone if f.status in UNDECIDED]
    if undecided:
        session.execute(sa.update(Finding), [dict(id=f.id, status=FindingStatus.CLOSED, closed_at=now,
                                                  closed_reason=reason) for f in undecided])
        events += [dict(finding_id=f.id, at=now, kind=FindingEventKind.CLOSED, from_status=f.status,
                        to_status=FindingStatus.CLOSED, text=reason) for f in undecided]
    decided = [f.id for f in gone if f.status not in UNDECIDED]  # an auditor's decision stands:
    if decided:  # the change goes to its history, once
        last = (sa.select(FindingEvent.finding_id, sa.func.max(FindingEvent.id).label("id"))
                .where(FindingEvent.finding_id.in_(decided)).group_by(FindingEvent.finding_id).subquery())
        noted = set(session.scalars(sa.select(FindingEvent.finding_id).join(last, last.c.id == FindingEvent.id)
                                    .where(FindingEvent.text == reason)))
        events += [dict(finding_id=i, at=now, kind=FindingEventKind.UPDATED, text=reason)
                   for i in decided if i not in noted]
    if events:
        session.execute(sa.insert(FindingEvent), events)
    return len(new), len(undecided)


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
