"""The workbench in a real browser against ``ncms serve`` of the demo province: the auditor
filters, sorts, ticks two findings and pushes them to their counties, the county officer sees
their county's findings only; no serious accessibility violation. Screenshots under
NCMS_SCREENSHOTS (docs/screenshots: workbench-zh.png, workbench-en.png)."""
from __future__ import annotations

import re

import pytest

from .test_browser import no_serious_accessibility_violations, page, server, shoot, sign_in  # noqa: F401

pytestmark = pytest.mark.browser


def test_the_auditor_filters_sorts_and_pushes_and_the_officer_sees_their_county(server, page, tmp_path):
    sign_in(page, server, "auditor")
    page.get_by_role("link", name="疑点", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "疑点"
    total = int(re.sub(r"\D", "", page.locator("#wb-total").inner_text()))
    assert total > 2 and page.locator("#wb-findings tbody tr").count() == min(total, 50)
    page.locator('#wb-filter input[name="status"][value="open"]').check()
    page.get_by_role("button", name="筛选").click()
    page.wait_for_load_state()
    page.locator('#wb-findings th a[data-sort="amount"]').click()  # money at stake, largest first
    page.wait_for_load_state()
    assert "sort=amount" in page.url and "dir=desc" in page.url
    amounts = [float(re.sub(r"[^\d.]", "", t)) for t in page.locator("#wb-findings tbody td.num:nth-child(8)")
               .all_inner_texts()]
    assert amounts == sorted(amounts, reverse=True) and len(amounts) > 2
    shoot(page, tmp_path, "workbench-zh")
    no_serious_accessibility_violations(page, server)

    chosen = [page.locator("#wb-findings tbody tr").nth(n).get_attribute("data-finding") for n in (0, 1)]
    for finding in chosen:
        page.locator(f'#wb-findings tr[data-finding="{finding}"] input[name="ids"]').check()
    page.get_by_role("button", name="推送", exact=True).click()
    page.wait_for_load_state()
    assert page.locator("#wb-done").get_attribute("data-done") == "2"
    assert sorted(page.locator("#wb-done-ids").text_content().split(", ")) == sorted(chosen)

    page.goto(server + "findings/?lang=en&status=sent_to_county&sort=due&dir=desc")
    assert page.locator("h1").inner_text() == "Findings"
    assert set(chosen) <= {page.locator("#wb-findings tbody tr").nth(n).get_attribute("data-finding")
                           for n in range(min(10, page.locator("#wb-findings tbody tr").count()))}
    page.goto(server + "findings/?lang=en")
    shoot(page, tmp_path, "workbench-en")

    officer = page.context.browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    sign_in(officer, server, "kaiyang")
    officer.goto(server + "findings/")
    assert officer.locator("#f-county").count() == 0 and officer.locator("#wb-bulk input[name=ids]").count() == 0
    counties = set(officer.locator("#wb-findings tbody td:nth-child(3)").all_inner_texts())
    assert len(counties) == 1
    assert officer.goto(server + "findings/?county=520122").status == 404
    officer.context.close()
