"""Sorting the findings by a column that may be empty (institution, assignee, due), with cursor
pages (ncms/web/api/paging.py): the empty ones last in both directions, on SQLite and
PostgreSQL alike; paging two at a time gives every finding once, in the order of the one full
query, and stays so when a finding arrives between two pages."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ncms.db import session_scope
from ncms.models import Finding, Institution, Severity, User

from .test_api import _error, api  # noqa: F401  (the fixture: 30 findings of two counties)
from .webauth import COUNTY, OTHER_COUNTY


def _vary(engine, ids) -> None:  # type: ignore[no-untyped-def]
    """Some findings with a due date, an auditor or an institution, the rest empty; ties too."""
    with session_scope(engine) as s:
        institutions = {county: s.scalars(sa.select(Institution.id).where(Institution.area_code == county)
                                           .order_by(Institution.id).limit(2)).all()
                        for county in (COUNTY, OTHER_COUNTY)}
        auditors = s.scalars(sa.select(User.id).where(User.username.in_(("admin", "auditor")))).all()
        for n, fid in enumerate(sorted(ids[COUNTY] + ids[OTHER_COUNTY])):
            finding = s.get(Finding, fid)
            if n % 3:
                finding.due_on = date(2026, 1, 1) + timedelta(days=n % 4)  # ties across findings
            if n % 4 == 1:
                finding.assignee_id = auditors[n % 2]
            if n % 5 in (1, 2):
                finding.institution_id = institutions[finding.county_code][n % 2]


def _pages(client, headers, url: str, arrive=None) -> list[int]:  # type: ignore[no-untyped-def]
    seen, next_url, first = [], url, True
    while next_url:
        page = client.get(next_url, headers=headers).get_json()
        assert "items" in page, page
        seen += [f["id"] for f in page["items"]]
        if first and arrive:
            arrive()
            first = False
        next_url = page["next_cursor"] and f"{url}&cursor={page['next_cursor']}"
    return seen


@pytest.mark.parametrize("sort", ["due", "assignee", "institution"])
def test_paging_by_a_column_that_may_be_empty(api, sort) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    client, engine, headers, ids, _ = api
    _vary(engine, ids)
    auditor = headers["auditor"]
    with session_scope(engine) as s:
        empty = {"due": sa.select(Finding.id).where(Finding.due_on.is_(None)),
                 "assignee": sa.select(Finding.id).where(Finding.assignee_id.is_(None)),
                 "institution": sa.select(Finding.id).where(Finding.institution_id.is_(None))}[sort]
        empty_ids = set(s.scalars(empty))
    assert 0 < len(empty_ids) < 30
    for direction in ("asc", "desc"):
        whole = [f["id"] for f in client.get(f"/api/v1/findings?sort={sort}&dir={direction}&limit=500",
                                             headers=auditor).get_json()["items"]]
        with session_scope(engine) as s:
            assert sorted(whole) == sorted(s.scalars(sa.select(Finding.id)))
            empty_ids = set(s.scalars(empty))  # with those that arrived while paging the other way
        tail = whole[-len(empty_ids):]
        assert set(tail) == empty_ids and tail == sorted(tail, reverse=direction == "desc"), \
            f"{sort} {direction}: the empty ones are not last, by id"
        paged = _pages(client, auditor, f"/api/v1/findings?sort={sort}&dir={direction}&limit=2")
        assert paged == whole, f"{sort} {direction}: pages of two are not the full list"

        def arrive(n=[0]) -> None:  # type: ignore[no-untyped-def]  # one with a value, one without
            n[0] += 1
            with session_scope(engine) as s:
                for k, due in enumerate((date(2026, 1, 2), None)):
                    s.add(Finding(rule_code="care_after_death", rule_version="1",
                                  subject_key=f"claim:{COUNTY}:{sort}{direction}{n[0]}{k}", county_code=COUNTY,
                                  severity=Severity.VIOLATION, amount_at_stake=Decimal(5), due_on=due,
                                  first_seen_at=datetime.now(timezone.utc), last_seen_at=datetime.now(timezone.utc)))

        before = set(whole)
        paged = _pages(client, auditor, f"/api/v1/findings?sort={sort}&dir={direction}&limit=2", arrive)
        assert len(paged) == len(set(paged)), f"{sort} {direction}: a finding given twice while findings arrived"
        assert [i for i in paged if i in before] == whole, f"{sort} {direction}: skipped or moved while paging"


def test_a_cursor_of_another_sort_is_refused(api) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    client, engine, headers, ids, _ = api
    _vary(engine, ids)
    page = client.get("/api/v1/findings?sort=due&limit=2", headers=headers["auditor"]).get_json()
    _error(client.get(f"/api/v1/findings?sort=assignee&limit=2&cursor={page['next_cursor']}",
                      headers=headers["auditor"]), 400)
    _error(client.get("/api/v1/findings?sort=nobody", headers=headers["auditor"]), 422)
