"""The reports page in a real browser against ``ncms serve`` of the demo province (whose reports
the demo builds): one report sent to the gateway standing in for the ministry, one whose send
failed; the auditor reads both, opens one and builds a correction with the form; the county
officer sees their county's report only; no serious accessibility violation. Screenshots under
NCMS_SCREENSHOTS (docs/screenshots: reports-zh.png, reports-en.png, reports-failed-en.png, reports-built-zh.png)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from ncms.db import create_engine, session_scope
from ncms.models import ReportRun
from reports.publish import publish_run

from .gateway.conftest import gateway_factory  # noqa: F401 - fixture: the ministry's stand-in
from .test_browser import no_serious_accessibility_violations, page, server, shoot, sign_in  # noqa: F401
from .test_report_publish import _ministry

pytestmark = pytest.mark.browser


def test_the_reports_page_shows_sends_and_builds_a_correction(server, page, settings, gateway_factory,
                                                            tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = create_engine(settings.database_url)
    with session_scope(engine) as s:
        runs = {(r.kind, r.scope): r.id for r in s.scalars(select(ReportRun))}
    assert set(runs) == {("annual", "province"), ("quarterly", "province"), ("monthly", "province"),
                         ("quarterly", "520121")}
    ministry = _ministry(gateway_factory, tmp_path)
    sent = publish_run(engine, replace(settings, ministry=ministry.endpoint()), runs[("annual", "province")])
    ministry.gateway.server.stop()  # then the ministry's server goes away
    failed = publish_run(engine, replace(settings, ministry=ministry.endpoint(retries=1)),
                         runs[("quarterly", "province")])
    assert sent.error is None and failed.error
    engine.dispose()

    sign_in(page, server, "auditor")
    page.goto(server + "reports/")
    assert page.locator("h1").inner_text() == "上报国家卫生部门的报表"
    assert page.locator("#report-failures tr[data-run]").count() == 1
    assert "已上报，校验一致" in page.locator(f'#report-runs tr[data-run="{runs[("annual", "province")]}"]').inner_text()
    assert page.locator("#report-runs tbody tr").count() == 4
    shoot(page, tmp_path, "reports-zh")
    no_serious_accessibility_violations(page, server)
    page.goto(server + "reports/?lang=en")
    assert "Sends that failed" in page.content()
    shoot(page, tmp_path, "reports-en")

    page.goto(server + f"reports/{runs[('quarterly', 'province')]}?lang=en")  # the report whose send failed
    assert page.locator("#report-sends tr[data-send]").count() == 1 and "Connection refused" in page.content()
    shoot(page, tmp_path, "reports-failed-en")
    page.goto(server + "reports/?lang=zh_Hans_CN")
    page.locator("#b-kind").select_option("quarterly")
    page.locator("#b-period").fill("2011-Q4")
    page.get_by_role("button", name="生成", exact=True).click()
    page.wait_for_load_state()
    assert "/reports/" in page.url and "已生成" in page.locator(".flash").inner_text()
    assert "第 2 版" in page.locator(".lead").inner_text() and "r1" in page.locator(".lead").inner_text()
    shoot(page, tmp_path, "reports-built-zh")
    no_serious_accessibility_violations(page, server)
    pdf = page.locator("#report-downloads a").first.get_attribute("href")
    assert page.request.get(server.rstrip("/") + pdf).body().startswith(b"%PDF")

    officer = page.context.browser.new_context().new_page()
    sign_in(officer, server, "kaiyang")
    officer.goto(server + "reports/")
    rows = officer.locator("#report-runs tbody tr")
    assert rows.count() == 1 and rows.first.get_attribute("data-run") == str(runs[("quarterly", "520121")])
    assert officer.locator("#build-form").count() == 0
    officer.context.close()
