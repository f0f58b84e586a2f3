"""The review loop's figures (ncms.indicators.supervision.review, docs/indicators.md#the-review-loop):
findings by status per county, the money determined and recovered, those past their deadline and
the median days from raised to decided, with findings taken through the loop by ncms.review;
the start page's table and the county page's figures and overdue list, flagged; a county officer
sees their county's only. SQLite and PostgreSQL."""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ncms.db import session_scope
from ncms.indicators.supervision import Review, overdue_findings, review
from ncms.models import Finding, FindingStatus, Severity
from ncms.review import workflow
from ncms.review.calendar import local_day

from .packages import COUNTY
from .test_review import CALENDAR, PUSHED, _user, found  # noqa: F401  (the fixture)
from .test_stake import copies  # noqa: F401
from .webauth import OTHER_COUNTY, sign_in

RAISED = datetime(2026, 9, 20, tzinfo=timezone.utc)
SECOND_PUSH = datetime(2026, 10, 12, 2, 0, tzinfo=timezone.utc)
TODAY = date(2026, 10, 13)


def at(day: int, month: int = 10, hour: int = 0) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=timezone.utc)


@pytest.fixture
def loop(found):  # type: ignore[no-untyped-def]  # noqa: F811
    """The county's findings in every state of the loop, and two of the other county's."""
    engine = found
    with session_scope(engine) as s:
        ids = sorted(s.scalars(sa.select(Finding.id).where(Finding.county_code == COUNTY)))
        assert len(ids) >= 7, ids
        s.execute(sa.update(Finding).values(first_seen_at=RAISED))
        a = dict(zip(("late", "answered", "waiting", "determined", "dismissed", "closed"), ids))
        auditor = _user(s, "auditor")
        workflow.push(s, auditor, [a["late"], a["answered"], a["determined"]], CALENDAR, now=PUSHED)  # due 10 Oct
        workflow.push(s, auditor, [a["waiting"]], CALENDAR, now=SECOND_PUSH)  # due 19 Oct
        workflow.dismiss(s, auditor, [a["dismissed"]], "an accepted practice", now=at(25, 9))  # 5 days
        s.execute(sa.update(Finding).where(Finding.id == a["closed"])
                  .values(status=FindingStatus.CLOSED, closed_at=at(1)))
    with session_scope(engine) as s:
        officer = _user(s, "officer")
        workflow.answer(s, officer, a["answered"], "the ward's error", "explanation", now=at(9))
        workflow.answer(s, officer, a["determined"], "we disagree", "appeal", now=at(9))
    with session_scope(engine) as s:
        workflow.determine(s, _user(s, "auditor"), a["determined"], "175.00", "overpaid", now=at(12, hour=12))  # 22.5
    with session_scope(engine) as s:
        workflow.recover(s, _user(s, "auditor"), a["determined"], "100.00", now=at(13))
        s.add_all([  # the other county: one past its deadline, one determined in 3 days
            Finding(rule_code="overpayment", rule_version="1", subject_key=f"claim:{OTHER_COUNTY}:X1",
                    county_code=OTHER_COUNTY, severity=Severity.VIOLATION, status=FindingStatus.SENT_TO_COUNTY,
                    amount_at_stake=Decimal("12.00"), first_seen_at=at(1, 9), pushed_at=at(2, 9),
                    due_on=date(2026, 10, 1)),
            Finding(rule_code="overpayment", rule_version="1", subject_key=f"claim:{OTHER_COUNTY}:X2",
                    county_code=OTHER_COUNTY, severity=Severity.VIOLATION, status=FindingStatus.CONFIRMED,
                    amount_at_stake=Decimal("80.00"), first_seen_at=at(1, 9), decided_at=at(4, 9),
                    amount_to_recover=Decimal("50.00"), amount_recovered=Decimal("20.00"))])
    with session_scope(engine) as s:
        other_late = s.scalar(sa.select(Finding.id).where(Finding.subject_key == f"claim:{OTHER_COUNTY}:X1"))
    return engine, a, len(ids), other_late


def test_the_figures_of_each_county_and_the_province(loop) -> None:  # type: ignore[no-untyped-def]
    engine, a, count, _ = loop
    with session_scope(engine) as s:
        rows = {r.county_code: r for r in review(s, today=TODAY)}
        only = review(s, [OTHER_COUNTY], today=TODAY)
        late, late_count = overdue_findings(s, COUNTY, today=TODAY)
        later = review(s, [COUNTY], today=date(2026, 10, 20))[0]
    assert set(rows) == {COUNTY, OTHER_COUNTY} and [r.county_code for r in only] == [OTHER_COUNTY]
    own = rows[COUNTY]
    assert (own.open, own.with_county, own.overdue, own.answered, own.determined, own.dismissed, own.closed) == (
        count - 6, 2, 1, 1, 1, 1, 1)
    assert own.findings == count and own.decided == 2
    assert (own.amount_to_recover, own.amount_recovered) == (Decimal("175.00"), Decimal("100.00"))
    assert own.median_days_to_close == pytest.approx((22.5 + 5) / 2)
    assert float(own.recovery_rate) == pytest.approx(100 / 175, abs=1e-4)
    assert ([f.id for f in late], late_count) == ([a["late"]], 1)
    assert later.overdue == 2  # the finding due on 19 October is late on the 20th
    province = sum(rows.values(), Review())
    assert province.county_code is None
    assert (province.with_county, province.overdue, province.determined) == (3, 2, 2)
    assert (province.amount_to_recover, province.amount_recovered) == (Decimal("225.00"), Decimal("120.00"))
    assert province.median_days_to_close == pytest.approx(5.0)  # of 22.5, 5 and 3 days
    assert rows[OTHER_COUNTY].median_days_to_close == pytest.approx(3.0)
    # a reopened finding is no longer decided: it leaves the median, its recovered money stays
    with session_scope(engine) as s:
        workflow.reopen(s, _user(s, "auditor"), a["determined"], "new evidence", now=at(14))
    with session_scope(engine) as s:
        again = review(s, [COUNTY], today=TODAY)[0]
    assert (again.open, again.determined, again.amount_to_recover, again.amount_recovered) == (
        count - 5, 0, Decimal("0.00"), Decimal("100.00"))
    assert again.median_days_to_close == pytest.approx(5.0)


def cells(html: str, table: str, marker: str) -> list[str]:
    body = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    row = body.split(marker, 1)[1].split("</tr>", 1)[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", c)).strip()
            for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S)]


def test_the_pages_flag_the_overdue_and_the_officer_sees_their_own(loop, app) -> None:  # type: ignore[no-untyped-def]
    engine, a, count, other_late = loop
    today = local_day()
    with session_scope(engine) as s:
        rows = {r.county_code: r for r in review(s, today=today)}
    assert rows[COUNTY].overdue >= 1 and rows[OTHER_COUNTY].overdue == 1
    clients = {}
    for name in ("auditor", "officer", "ministry"):
        clients[name] = app.test_client()
        assert sign_in(clients[name], name).status_code == 302
    start = clients["auditor"].get("/?period=2011").get_data(as_text=True)
    own = cells(start, "review", f'data-review-county="{COUNTY}"')
    r = rows[COUNTY]
    assert own[1:4] == [str(r.open), str(r.with_county), f"逾期 {r.overdue} 条"]
    assert own[5:8] == [str(r.determined), str(r.dismissed), str(r.closed)]
    assert own[8:10] == ["¥175.00", "¥100.00"]
    assert own[10] == f"{r.median_days_to_close:.1f}"
    total = cells(start, "review", "data-total")
    assert total[3] == f"逾期 {r.overdue + 1} 条" and total[8] == "¥225.00"
    body = start.split('id="review"', 1)[1].split("</table>", 1)[0]
    assert re.search(rf'<tr data-review-county="{COUNTY}" class="overdue">', body)
    assert "tag overdue" in cells_html(body, f'data-review-county="{COUNTY}"')
    quiet = [c for c in re.findall(r'<tr data-review-county="(\d+)"([^>]*)>', body) if c[0] not in rows]
    assert quiet and all("overdue" not in attrs for _, attrs in quiet)  # a county with no finding: no flag
    # the county page: its figures, its overdue findings flagged (linked to the finding's page when there is one)
    page = clients["auditor"].get(f"/county/{COUNTY}?period=2011").get_data(as_text=True)
    facts = re.findall(r"<dd[^>]*>(.*?)</dd>", page.split('id="county-review"', 1)[1].split("</dl>", 1)[0], re.S)
    assert [re.sub(r"<[^>]+>", "", f).strip() for f in facts][:3] == [
        str(r.open), str(r.with_county), f"逾期 {r.overdue} 条"]
    listed = re.findall(r'<tr data-finding="(\d+)" class="overdue">', page.split('id="overdue"', 1)[1])
    assert a["late"] in map(int, listed) and other_late not in map(int, listed) and len(listed) == r.overdue
    if "findings.show" in app.view_functions:
        assert f'href="/findings/{a["late"]}"' in page
    assert f"/findings/notice/{COUNTY}.pdf" in page
    # the officer: their county's figures and overdue findings, never the other county's
    mine = clients["officer"].get(f"/county/{COUNTY}?period=2011").get_data(as_text=True)
    assert re.findall(r'<tr data-finding="(\d+)" class="overdue">', mine.split('id="overdue"', 1)[1]) == listed
    assert clients["officer"].get(f"/county/{OTHER_COUNTY}").status_code == 404
    assert clients["officer"].get("/").status_code == 302
    # the ministry: the figures and the list, no notice (it names people) and no finding page
    seen = clients["ministry"].get(f"/county/{COUNTY}?period=2011").get_data(as_text=True)
    assert 'id="overdue"' in seen and "/findings/notice/" not in seen and 'href="/findings/' not in seen


def cells_html(body: str, marker: str) -> str:
    return body.split(marker, 1)[1].split("</tr>", 1)[0]
