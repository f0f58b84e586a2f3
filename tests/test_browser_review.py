"""One finding of the demo province through the whole review loop in a real browser, against
``ncms serve``: the provincial auditor and the county officer each in a browser context of their
own. The auditor pushes it; the officer finds it in the inbox and answers with a PDF; the auditor
sends it back; the officer answers again; the auditor determines it with an amount to recover
and records part of it; the page then shows the history and what is still to recover. axe on the
finding page and the inbox. Screenshots under NCMS_SCREENSHOTS (docs/screenshots: finding-zh.png,
finding-en.png, inbox-zh.png)."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest
from sqlalchemy import select

from ncms.cli.demo import DEMO_COUNTY
from ncms.db import create_engine, session_scope
from ncms.models import Finding, FindingEvent, FindingStatus

from .test_browser import no_serious_accessibility_violations, page, shoot, sign_in, unreviewed_server  # noqa: F401

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def submit(page, form: str) -> None:  # type: ignore[no-untyped-def]
    page.locator(f"#{form} button[type=submit]").click()
    page.wait_for_load_state()
    assert page.locator(".flash.success").count() == 1, page.locator("main").inner_text()[:600]


def test_one_finding_through_the_loop_by_the_auditor_and_the_county(unreviewed_server, page, settings,  # noqa: F811
                                                                    tmp_path):
    server = unreviewed_server
    engine = create_engine(settings.database_url)
    with session_scope(engine) as s:  # a claim's finding of the officer's county, its evidence naming another claim
        candidates = s.execute(select(Finding.id, Finding.evidence, Finding.amount_at_stake).where(
            Finding.county_code == DEMO_COUNTY, Finding.status == FindingStatus.OPEN, Finding.claim_id.is_not(None),
            Finding.amount_at_stake > 0).order_by(Finding.id)).all()
    paired = [row for row in candidates if set(row.evidence or {}) & {"first_claim", "other_claim", "previous_claim",
                                                                      "stay_claim"}]
    target, _, stake = (paired or candidates)[0]
    assert target is not None
    auditor = page
    sign_in(auditor, server, "auditor")
    auditor.goto(server + f"findings/{target}")
    assert auditor.locator("#finding-claims tbody tr").count() == (2 if paired else 1)  # its claim and the other
    auditor.locator("#push-note").fill("请说明该重复报销的情况")
    submit(auditor, "form-push")
    assert auditor.locator("#finding-facts .status-sent_to_county").count() == 1

    officer = auditor.context.browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    sign_in(officer, server, "kaiyang")
    officer.locator("header").get_by_role("link", name="待办").click()  # the inbox, in the county's menu
    officer.wait_for_load_state()
    assert officer.url.endswith("/inbox/")
    row = officer.locator(f'#inbox-waiting tr[data-finding="{target}"]')
    assert row.count() == 1
    no_serious_accessibility_violations(officer, server)
    shoot(officer, tmp_path, "inbox-zh")
    row.get_by_role("link").click()
    officer.wait_for_load_state()
    officer.locator("#answer-text").fill("两张单据为同一次住院，已由医院退回第二张的补偿款。")
    officer.locator('input[name=kind][value="appeal"]').check()
    officer.locator("#answer-files").set_input_files([{"name": "说明.pdf", "mimeType": "application/pdf",
                                                       "buffer": PDF}])
    submit(officer, "form-answer")
    link = officer.locator("#finding-history a.attachment")
    assert link.inner_text() == "说明.pdf"
    download = officer.request.get(server.rstrip("/") + link.get_attribute("href"))
    assert download.body() == PDF and download.headers["content-disposition"].startswith("attachment;")

    auditor.reload()
    assert auditor.locator("#finding-facts .status-county_responded").count() == 1
    auditor.locator("#send-back-text").fill("请补充医院退款的凭证")
    submit(auditor, "form-send_back")
    assert auditor.locator("#form-send_back").count() == 0

    officer.goto(server + "inbox/")
    officer.locator(f'#inbox-waiting tr[data-finding="{target}"] a').click()
    officer.wait_for_load_state()
    officer.locator("#answer-text").fill("退款凭证见附件。")
    officer.locator("#answer-files").set_input_files([{"name": "退款凭证.pdf", "mimeType": "application/pdf",
                                                       "buffer": PDF}])
    submit(officer, "form-answer")

    auditor.reload()
    owed = stake.quantize(Decimal("0.01"))
    part = (owed / 2).quantize(Decimal("0.01"))
    auditor.locator("#determine-amount").fill(str(owed))
    auditor.locator("#determine-text").fill("重复报销属实，应追回第二张单据的补偿款")
    submit(auditor, "form-determine")
    auditor.locator("#recover-amount").fill(str(part))
    auditor.locator("#recover-text").fill("第一笔退款")
    submit(auditor, "form-recover")

    kinds = [auditor.locator("#finding-history tbody tr").nth(i).get_attribute("data-kind")
             for i in range(auditor.locator("#finding-history tbody tr").count())]
    assert kinds[-6:] == ["pushed", "county_response", "sent_back", "county_response", "determined", "recovered"]
    assert auditor.locator("#finding-history a.attachment").count() == 2
    remaining = auditor.locator("#finding-remaining").inner_text()
    assert re.sub(r"[^\d.]", "", remaining) == str(owed - part), remaining
    no_serious_accessibility_violations(auditor, server)
    shoot(auditor, tmp_path, "finding-zh")
    auditor.goto(server + f"findings/{target}?lang=en")
    assert "Still to recover" in auditor.locator("#finding-facts").inner_text()
    shoot(auditor, tmp_path, "finding-en")
    auditor.goto(server + f"findings/{target}?lang=zh_Hans_CN")
    officer.context.close()

    with session_scope(engine) as s:
        finding = s.get(Finding, target)
        assert (finding.status, finding.amount_to_recover, finding.amount_recovered) == (
            FindingStatus.CONFIRMED, owed, part)
        assert s.scalar(select(FindingEvent.answer_kind).where(FindingEvent.finding_id == target,
                                                               FindingEvent.kind == "county_response")
                        .order_by(FindingEvent.id)).value == "appeal"
    engine.dispose()
