"""Rule exceptions (例外): accepted practice recorded while dismissing a finding.

"This institution's use of that item is agreed with the county" — an exception for a rule and a
subject (an institution, an item, a diagnosis; in one county or everywhere) until an expiry day.
The rule runs honour it: hits it covers are not filed, a finding still open for one is closed
saying which exception passed it over, and the run counts them (``rule_run.excepted``).
Exceptions are listed, and revoked with who and why (kept, never deleted)."""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ncms.models import (
    Claim,
    ExceptionSubject,
    Finding,
    FindingEvent,
    FindingEventKind,
    Institution,
    RuleException,
    User,
)
from ncms.models.base import utcnow

from .calendar import local_day
from .workflow import PROVINCE, ReviewError, _text

SUBJECT_ZH = {ExceptionSubject.INSTITUTION: "医疗机构", ExceptionSubject.ITEM: "项目", ExceptionSubject.DIAGNOSIS: "诊断"}
MAX_YEARS = 3  # an exception lasts at most this long: practice is looked at again


def make(session: Session, actor: User, rule_code: str, subject_kind: ExceptionSubject | str, subject_code: str,
         expires_on: date, reason: str, *, county_code: str | None = None, finding: Finding | None = None,
         today: date | None = None) -> RuleException:
    """Record an exception (an auditor's); ``finding`` is the one whose dismissal made it."""
    if actor.role not in PROVINCE or not actor.active:
        raise ReviewError("only a provincial auditor makes a rule exception", "只有省级审计人员可以设立规则例外")
    try:
        kind = ExceptionSubject(subject_kind)
    except ValueError:
        raise ReviewError(f"{subject_kind!r}: an exception is for an institution, an item or a diagnosis",
                          f"{subject_kind!r}：例外只能针对医疗机构、项目或诊断") from None
    code = (subject_code or "").strip()
    if not code or len(code) > 64:
        raise ReviewError(f"the {kind.value} code of the exception is required (at most 64 characters)",
                          f"须填写例外的{SUBJECT_ZH[kind]}编码（最多 64 个字符）")
    today = today or local_day()
    if expires_on <= today:
        raise ReviewError(f"an exception must expire after today ({today}), not {expires_on}",
                          f"例外的到期日须晚于今天（{today}），而不是 {expires_on}")
    latest = date(today.year + MAX_YEARS, today.month, min(today.day, 28 if today.month == 2 else 31))
    if expires_on > latest:
        raise ReviewError(f"an exception lasts at most {MAX_YEARS} years (until {latest})",
                          f"例外最长 {MAX_YEARS} 年（至 {latest}）")
    if kind is ExceptionSubject.INSTITUTION and session.scalar(
            sa.select(sa.func.count()).select_from(Institution).where(Institution.code == code)) == 0:
        raise ReviewError(f"no institution {code}", f"没有医疗机构 {code}")
    row = RuleException(rule_code=rule_code, subject_kind=kind, subject_code=code, county_code=county_code,
                        reason=_text(reason, "the reason for the exception"), expires_on=expires_on,
                        finding_id=finding.id if finding else None, created_by=actor.id)
    session.add(row)
    session.flush()
    if finding is not None:
        session.add(FindingEvent(finding_id=finding.id, user_id=actor.id, kind=FindingEventKind.EXCEPTION,
                                 text=f"exception {row.id}: {rule_code} for {kind.value} {code}"
                                      f"{' in ' + county_code if county_code else ''} until {expires_on}"))
        session.flush()
    return row


def revoke(session: Session, actor: User, exception_id: int, reason: str) -> RuleException:
    if actor.role not in PROVINCE or not actor.active:
        raise ReviewError("only a provincial auditor revokes a rule exception", "只有省级审计人员可以撤销规则例外")
    row = session.get(RuleException, exception_id)
    if row is None:
        raise ReviewError(f"no exception {exception_id}", f"没有例外 {exception_id}")
    if row.revoked_at is not None:
        raise ReviewError(f"exception {exception_id} was revoked already, on {row.revoked_at:%Y-%m-%d}",
                          f"例外 {exception_id} 已于 {row.revoked_at:%Y-%m-%d} 撤销")
    row.revoked_at, row.revoked_by = utcnow(), actor.id
    row.revoke_reason = _text(reason, "the reason to revoke")
    session.flush()
    return row


def listing(session: Session, *, current_only: bool = False, on: date | None = None) -> list[RuleException]:
    query = sa.select(RuleException).order_by(RuleException.id.desc())
    if current_only:
        query = query.where(*_in_force(on or local_day()))
    return list(session.scalars(query))


def _in_force(on: date) -> list[sa.ColumnElement[bool]]:
    return [RuleException.revoked_at.is_(None), RuleException.expires_on >= on]


def pass_over(session: Session, rule_code: str, hits: list[dict[str, Any]], on: date | None = None
              ) -> tuple[list[dict[str, Any]], dict[str, int], Counter[str]]:
    """Split a run's hits into those to file and those an exception in force covers: the hits
    to file, the covered hits' subject keys with the exception's id, and the covered per county.
    Nothing to look up when the rule has no exception in force (the usual case: one query)."""
    rows = list(session.scalars(sa.select(RuleException).where(RuleException.rule_code == rule_code,
                                                               *_in_force(on or local_day()))))
    if not rows or not hits:
        return hits, {}, Counter()
    institutions = _institution_codes(session, rows)
    diagnoses = _diagnoses(session, rows, hits)
    kept, covered, counts = [], {}, Counter()
    for hit in hits:
        found = next((row.id for row in rows if _covers(row, hit, institutions, diagnoses)), None)
        if found is None:
            kept.append(hit)
        else:
            covered[hit["subject_key"]] = found
            counts[hit["county_code"]] += 1
    return kept, covered, counts


def _covers(row: RuleException, hit: dict[str, Any], institutions: dict[int, str], diagnoses: dict[int, str]) -> bool:
    if row.county_code and row.county_code != hit["county_code"]:
        return False
    if row.subject_kind is ExceptionSubject.INSTITUTION:
        return institutions.get(hit.get("institution_id")) == row.subject_code  # type: ignore[arg-type]
    if row.subject_kind is ExceptionSubject.ITEM:
        return str(hit.get("ev_code") or "").strip() == row.subject_code
    diagnosis = diagnoses.get(hit.get("claim_id"))  # type: ignore[arg-type]
    return diagnosis is not None and diagnosis.upper().startswith(row.subject_code.upper())


def _institution_codes(session: Session, rows: Iterable[RuleException]) -> dict[int, str]:
    codes = {row.subject_code for row in rows if row.subject_kind is ExceptionSubject.INSTITUTION}
    if not codes:
        return {}
    return dict(session.execute(sa.select(Institution.id, Institution.code).where(Institution.code.in_(codes))).all())


def _diagnoses(session: Session, rows: Iterable[RuleException], hits: list[dict[str, Any]]) -> dict[int, str]:
    if not any(row.subject_kind is ExceptionSubject.DIAGNOSIS for row in rows):
        return {}
    ids = sorted({hit["claim_id"] for hit in hits if hit.get("claim_id") is not None})
    found: dict[int, str] = {}
    for start in range(0, len(ids), 900):
        found.update(session.execute(sa.select(Claim.id, Claim.diagnosis_code)
                                     .where(Claim.id.in_(ids[start:start + 900]))).all())
    return found
