"""The findings as rows to take out (``ncms findings list|export``): filtered by county, rule,
status, period and institution, with the names an auditor reads and the money exact.

Each row's ``counted`` is what the finding adds to the money at stake once every finding that
holds is counted (``stake.counted``: a claim's money once, under the finding that explains it),
whatever the filter: a filter picks rows, it does not change how they count. It is empty for a
finding that no longer holds or was dismissed; a fund warning's amount is a projection of the
fund (``amount_kind`` ``fund``), never money at stake."""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from ncms.models import Claim, County, Finding, FindingStatus, Institution

from .stake import FUND_RULES, counted, holding

CENTS = Decimal("0.01")
# the columns of an export, in order; ``evidence`` is an object in JSON, its JSON text in CSV
COLUMNS = ("id", "rule", "severity", "status", "county", "county_name", "institution_code", "institution_name",
           "claim_no", "subject", "period_start", "period_end", "amount", "amount_kind", "counted",
           "first_seen", "last_seen", "evidence")


@dataclass(frozen=True)
class FindingFilter:
    """Which findings: each given criterion must hold (any of its values); none given, all of them."""

    counties: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    statuses: tuple[FindingStatus, ...] = ()
    period: tuple[date, date] | None = None  # the finding's own period touches it
    institutions: tuple[str, ...] = ()  # institution codes

    def conditions(self) -> list[sa.ColumnElement[bool]]:
        where = []
        if self.counties:
            where.append(Finding.county_code.in_(self.counties))
        if self.rules:
            where.append(Finding.rule_code.in_(self.rules))
        if self.statuses:
            where.append(Finding.status.in_(self.statuses))
        if self.period:
            where += [Finding.period_start <= self.period[1], Finding.period_end >= self.period[0]]
        if self.institutions:
            where.append(Finding.institution_id.in_(
                sa.select(Institution.id).where(Institution.code.in_(self.institutions))))
        return where


def select_findings(where: FindingFilter) -> sa.Select:
    """One SELECT of the rows, by finding id."""
    adds = counted(*holding()).subquery("counted")
    return (sa.select(Finding.id, Finding.rule_code, Finding.severity, Finding.status, Finding.county_code,
                      County.name.label("county_name"), Institution.code.label("institution_code"),
                      Institution.name.label("institution_name"), Claim.source_id.label("claim_no"),
                      Finding.subject_key, Finding.period_start, Finding.period_end, Finding.amount_at_stake,
                      adds.c.counted, Finding.first_seen_at, Finding.last_seen_at, Finding.evidence)
            .join(County, County.code == Finding.county_code)
            .outerjoin(Institution, Institution.id == Finding.institution_id)
            .outerjoin(Claim, Claim.id == Finding.claim_id)
            .outerjoin(adds, adds.c.id == Finding.id)
            .where(*where.conditions())
            .order_by(Finding.id))


def finding_rows(conn: sa.Connection, where: FindingFilter, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """The findings as plain rows (``COLUMNS``): codes and names, amounts as strings of yuan with
    two decimals, dates and times as ISO text, evidence as stored."""
    query = select_findings(where)
    if limit:
        query = query.limit(limit)
    for row in conn.execution_options(yield_per=1000).execute(query):
        fund = row.rule_code in FUND_RULES
        yield {"id": row.id, "rule": row.rule_code, "severity": row.severity.value, "status": row.status.value,
               "county": row.county_code, "county_name": row.county_name,
               "institution_code": row.institution_code, "institution_name": row.institution_name,
               "claim_no": row.claim_no, "subject": row.subject_key,
               "period_start": _iso(row.period_start), "period_end": _iso(row.period_end),
               "amount": money(row.amount_at_stake), "amount_kind": "fund" if fund else "at_stake",
               "counted": money(row.counted), "first_seen": _iso(row.first_seen_at),
               "last_seen": _iso(row.last_seen_at), "evidence": row.evidence}


def count_findings(conn: sa.Connection, where: FindingFilter) -> int:
    return conn.scalar(sa.select(sa.func.count()).select_from(Finding).where(*where.conditions())) or 0


def money(value: Any) -> str | None:
    """Yuan as a string with exactly two decimals (fen), never a float's digits."""
    if value is None:
        return None
    return str(Decimal(str(value)).quantize(CENTS))


def _iso(value: date | datetime | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    return value.isoformat()
