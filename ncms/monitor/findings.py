"""Filing findings: raised once per rule and subject, updated on a rerun, closed with the reason
when they no longer hold; an auditor's decision stands (the change goes to the finding's history),
and so does the county's turn: a finding pushed to the county that no longer holds is marked so
(``stopped_holding_at``), never closed under the county's feet. Hits a rule exception in force
covers are not filed (``ncms.review.exceptions``). Rules and the anomaly model file theirs the
same way."""
from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ncms.db import insert_rows
from ncms.models import Claim, Finding, FindingEvent, FindingEventKind, FindingStatus
from ncms.models.base import utcnow

from .catalogue import Scope

UNDECIDED = (FindingStatus.OPEN, FindingStatus.SENT_TO_COUNTY, FindingStatus.COUNTY_RESPONDED)
WITH_COUNTY = (FindingStatus.SENT_TO_COUNTY, FindingStatus.COUNTY_RESPONDED)
FEN = Decimal("0.01")
# the evidence that is an amount of money, in yuan (a rule's ``ev_`` column, or a key of the
# anomaly model's claims): written as a fen-exact string ("123.40") on every database
MONEY_EVIDENCE = frozenset({"annual_cap", "balance_carried", "ceiling", "cost_per_day", "deductible",
                            "first_total", "income", "paid", "paid_in_year", "price", "projected", "scheme_pays",
                            "spent", "total"})


def file_findings(session: Session, rule: Any, params: dict[str, Any], severity: Any, scope: Scope,
                  hits: list[Any], touched: Any = None) -> tuple[Counter[str], Counter[str], Counter[str]]:
    """Raise, update, reopen and close this rule's findings in the scope (of the counties it names);
    the findings raised and closed, and the hits rule exceptions passed over, per county. An incremental run (``touched``) closes only
    findings about the people it re-examined. In bulk: a run may file tens of thousands of
    findings, one statement per kind of change for all the counties (per county, the statements
    of a catalogue's 126 filings took 0.3 s on PostgreSQL when there was nothing to find)."""
    from ncms.review.exceptions import pass_over

    hits, covered, excepted = pass_over(session, rule.code, hits)
    in_scope = (sa.select(Finding.id, Finding.subject_key, Finding.status, Finding.claim_id, Finding.county_code,
                          Finding.stopped_holding_at)
                .where(Finding.rule_code == rule.code, Finding.county_code.in_(scope.counties)))
    if scope.period:
        in_scope = in_scope.where(Finding.claim_id.in_(sa.select(Claim.id).where(*scope.claims(Claim))))
    existing = {row.subject_key: row for row in session.execute(in_scope)
                if touched is None or touched.covers(row.claim_id, row.subject_key)}
    hit_keys = {h["subject_key"] for h in hits}
    if scope.period:  # a hit may be a finding whose claim moved out of the period's claims
        missing = list(hit_keys - set(existing))
        for start in range(0, len(missing), 500):
            existing.update({row.subject_key: row for row in session.execute(
                sa.select(Finding.id, Finding.subject_key, Finding.status, Finding.county_code,
                          Finding.stopped_holding_at)
                .where(Finding.rule_code == rule.code, Finding.subject_key.in_(missing[start:start + 500])))})
    now, why = utcnow(), _why(rule, params)
    values = dict(rule_version=rule.version, parameters=params, severity=severity, last_seen_at=now)
    new, seen, reopened, holding_again = [], [], [], []
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
        elif finding.stopped_holding_at is not None and finding.status in WITH_COUNTY:
            holding_again.append(dict(fields, id=finding.id, stopped_holding_at=None))
        else:
            seen.append(dict(fields, id=finding.id))
    if new:
        # inserted as they are, by a COPY on PostgreSQL (an INSERT … RETURNING of many rows took
        # twice as long as an INSERT: 3,000 findings, 0.49-0.61 s against 0.28 s; a COPY half as
        # long: 10,000, 0.52-0.56 s against 1.07-1.33 s), then their events written from them in
        # one statement, by the time they were first seen, this very call's: 10,000 events
        # 0.30-0.57 -> 0.07-0.08 s on PostgreSQL, 0.11 -> 0.03 s on SQLite, against reading the
        # ids back and sending an event for each
        insert_rows(session.connection(), Finding.__table__, new)
        raised_event = [sa.literal(value, column.type) for value, column in (
            (now, FindingEvent.at), (FindingEventKind.RAISED, FindingEvent.kind),
            (FindingStatus.OPEN, FindingEvent.to_status), (why, FindingEvent.text))]
        session.execute(sa.insert(FindingEvent).from_select(
            ["finding_id", "at", "kind", "to_status", "text"],
            sa.select(Finding.id, *raised_event).where(
                Finding.rule_code == rule.code, Finding.county_code.in_(scope.counties), Finding.first_seen_at == now)))
    events = []
    for rows in (seen, reopened, holding_again):
        if rows:
            session.execute(sa.update(Finding), rows)
    events += [dict(finding_id=row["id"], at=now, kind=FindingEventKind.REOPENED, from_status=FindingStatus.CLOSED,
                    to_status=FindingStatus.OPEN, text=f"holds again: {why}") for row in reopened]
    events += [dict(finding_id=row["id"], at=now, kind=FindingEventKind.UPDATED,
                    text=f"holds again while with the county: {why}") for row in holding_again]
    reason = f"no longer holds: {why}"
    gone = [f for key, f in existing.items() if key not in hit_keys and f.status is not FindingStatus.CLOSED]
    undecided = [f for f in gone if f.status is FindingStatus.OPEN]
    if undecided:
        why_closed = {f.id: f"passed over by rule exception {covered[f.subject_key]}" if f.subject_key in covered
                      else reason for f in undecided}
        session.execute(sa.update(Finding), [dict(id=f.id, status=FindingStatus.CLOSED, closed_at=now,
                                                  closed_reason=why_closed[f.id]) for f in undecided])
        events += [dict(finding_id=f.id, at=now, kind=FindingEventKind.CLOSED, from_status=f.status,
                        to_status=FindingStatus.CLOSED, text=why_closed[f.id]) for f in undecided]
    stopped = [f for f in gone if f.status in WITH_COUNTY and f.stopped_holding_at is None]
    if stopped:  # the county has it: marked, and the auditor decides
        session.execute(sa.update(Finding), [dict(id=f.id, stopped_holding_at=now) for f in stopped])
        events += [dict(finding_id=f.id, at=now, kind=FindingEventKind.UPDATED,
                        text=f"no longer holds while with the county: {why}") for f in stopped]
    _count_changes(session, [row["id"] for row in reopened + holding_again] + [f.id for f in undecided + stopped])
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
    return Counter(row["county_code"] for row in new), Counter(f.county_code for f in undecided), excepted


def _count_changes(session: Session, ids: list[int]) -> None:
    """One up the version of the findings whose state a run changed, as the review loop counts
    changes (ncms.review.workflow): an auditor deciding one of them meanwhile is told, not overrun."""
    for start in range(0, len(ids), 900):
        session.execute(sa.update(Finding).where(Finding.id.in_(ids[start:start + 900]))
                        .values(version=Finding.version + 1).execution_options(synchronize_session=False))


def _why(rule: Any, params: dict[str, Any]) -> str:
    shown = ", ".join(f"{k}={v}" for k, v in sorted(params.items())) or "no parameters"
    return f"rule {rule.code} version {rule.version} ({shown})"


def _evidence(hit: Any) -> dict[str, Any]:
    """A hit's ``ev_`` columns as JSON, typed alike on both databases: SQLite gives a sum or a
    rounding as a float and a whole amount as an integer where PostgreSQL gives a Decimal, so
    an amount (by its name, ``MONEY_EVIDENCE``) is always written as a fen-exact string."""
    return {key[3:]: _plain(value, key[3:]) for key, value in hit.items() if key.startswith("ev_")}


def _day(value: Any) -> date | None:
    """A date a query returned (SQLite returns computed dates as text)."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def _plain(value: Any, name: str = "") -> Any:
    if name in MONEY_EVIDENCE and isinstance(value, (Decimal, int, float, str)) and not isinstance(value, bool):
        return str(Decimal(str(value)).quantize(FEN, rounding=ROUND_HALF_UP))
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):  # the anomaly model's claims and features
        return {key: _plain(item, key) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
