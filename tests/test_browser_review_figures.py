"""The review loop's figures in a real browser, against ``ncms serve`` of the demo province with
findings taken through the loop (ncms.review.workflow): the start page's review table flags the
counties with findings past their deadline, the county page its figures and its overdue findings;
the county officer lands on their county's, axe on both. Screenshots under NCMS_SCREENSHOTS
(docs/screenshots: province-zh.png, county-zh.png, province-en.png, county-en.png)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from ncms.cli.demo import DEMO_COUNTY
from ncms.db import create_engine, session_scope
from ncms.models import Finding, FindingStatus, User
from ncms.review import workflow
from ncms.review.calendar import read_calendar

from .test_browser import no_serious_accessibility_violations, page, shoot, sign_in, unreviewed_server  # noqa: F401

pytestmark = pytest.mark.browser

RAISED = datetime(2026, 8, 20, 1, tzinfo=timezone.utc)
PUSHED = datetime(2026, 9, 1, 2, tzinfo=timezone.utc)  # due in September: past the deadline on any later day


def test_overdue_flagged_on_the_start_page_and_the_county_page(unreviewed_server, page, settings,  # noqa: F811
                                                               tmp_path):
    server = unreviewed_server
    engine = create_engine(settings.database_url)
    calendar = read_calendar(settings.config_dir)
    with session_scope(engine) as s:
        s.execute(sa.update(Finding).values(first_seen_at=RAISED))  # raised before the pushes below
        auditor = s.scalar(sa.select(User).where(User.username == "auditor"))
        own = list(s.scalars(sa.select(Finding.id).where(Finding.county_code == DEMO_COUNTY,
                                                         Finding.status == FindingStatus.OPEN)
                             .order_by(Finding.amount_at_stake.desc()).limit(6)))
        other_county = s.scalar(sa.select(Finding.county_code).where(Finding.county_code != DEMO_COUNTY)
                                .order_by(Finding.county_code).limit(1))
        other = list(s.scalars(sa.select(Finding.id).where(Finding.county_code == other_county,
                                                           Finding.status == FindingStatus.OPEN)
                               .order_by(Finding.id).limit(3)))
        assert len(own) == 6 and other
        workflow.push(s, auditor, own[:5] + other, calendar, now=PUSHED)
        workflow.dismiss(s, auditor, own[5:], "accepted practice", now=datetime(2026, 9, 5, tzinfo=timezone.utc))
    with session_scope(engine) as s:
        officer = s.scalar(sa.select(User).where(User.username == "kaiyang"))
        for finding in own[:2]:
            workflow.answer(s, officer, finding, "已核实", "explanation", now=datetime(2026, 9, 10, tzinfo=timezone.utc))
    with session_scope(engine) as s:
        auditor = s.scalar(sa.select(User).where(User.username == "auditor"))
        workflow.determine(s, auditor, own[0], "1200.00", "超标准收费", now=datetime(2026, 9, 20, tzinfo=timezone.utc))
    with session_scope(engine) as s:
        workflow.recover(s, s.scalar(sa.select(User).where(User.username == "auditor")), own[0], "500.00")
    overdue = set(own[2:5])  # pushed, unanswered, due in September

    sign_in(page, server, "auditor")
    # decided 16 days (dismissed 5 Sep) and 31 days (determined 20 Sep) after raised: the median between
    assert page.locator(f'#review tr[data-review-county="{DEMO_COUNTY}"] td').last.inner_text() == "23.5"

    row = page.locator(f'#review tr[data-review-county="{DEMO_COUNTY}"]')
    assert row.locator(".tag.overdue").inner_text() == "逾期 3 条" and row.locator(".tag.overdue").is_visible()
    assert page.locator(f'#review tr[data-review-county="{other_county}"] .tag.overdue').inner_text() == \
        f"逾期 {len(other)} 条"
    assert page.locator("#review tfoot .tag.overdue").inner_text() == f"逾期 {3 + len(other)} 条"
    assert page.locator("#review tbody .tag.overdue").count() == 2  # the two counties with findings late, no other
    no_serious_accessibility_violations(page, server)
    shoot(page, tmp_path, "province-zh")

    page.goto(server + f"county/{DEMO_COUNTY}")
    listed = {int(x) for x in page.locator("#overdue tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.finding)")}
    assert listed == overdue
    assert page.locator("#overdue tbody .tag.overdue").count() == 3
    assert page.locator("#overdue .tag.overdue").first.is_visible()
    link = page.locator(f'#overdue tr[data-finding="{min(overdue)}"] a')
    if link.count():  # the finding's page, once it exists
        assert link.get_attribute("href").endswith(f"/findings/{min(overdue)}")
    no_serious_accessibility_violations(page, server)
    page.locator("#county-review").scroll_into_view_if_needed()
    shoot(page, tmp_path, "county-zh")

    page.get_by_role("link", name="English").click()  # the same in English
    page.wait_for_load_state()
    assert page.locator("#overdue .tag.overdue").first.inner_text() == "overdue"
    assert page.locator("#county-review .tag.overdue").inner_text() == "3 overdue"
    shoot(page, tmp_path, "county-en")
    page.goto(server)
    assert page.locator("#review tfoot .tag.overdue").inner_text() == f"{3 + len(other)} overdue"
    shoot(page, tmp_path, "province-en")

    officer = page.context.browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    sign_in(officer, server, "kaiyang")
    assert officer.url.rstrip("/").split("?")[0].endswith(f"/county/{DEMO_COUNTY}")
    assert {int(x) for x in officer.locator("#overdue tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.finding)")} == overdue
    assert officer.goto(server + f"county/{other_county}").status == 404
    engine.dispose()
