"""The API tokens page in a real browser against ``ncms serve`` of the demo: the administrator
makes a token for the county officer, revokes it after confirming, makes a write token for the
auditor and sees its secret once, which then reads the API; no serious accessibility violation.
Screenshots under NCMS_SCREENSHOTS (docs/screenshots: tokens-zh.png, the secret shown once)."""
from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from .test_browser import no_serious_accessibility_violations, page, server, shoot, sign_in  # noqa: F401

pytestmark = pytest.mark.browser


def status_of(url: str, secret: str) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def make(page, server: str, account: str, name: str, scope: str, days: str) -> str:  # type: ignore[no-untyped-def]
    page.goto(server + "tokens/")
    page.locator("#t-user").select_option(label=page.locator("#t-user option", has_text=account).first.inner_text())
    page.locator("#t-name").fill(name)
    page.locator("#t-scope").select_option(scope)
    page.locator("#t-expires_days").fill(days)
    page.get_by_role("button", name="创建令牌", exact=True).click()
    page.wait_for_load_state()
    return page.locator("#token-secret").inner_text()


def test_the_administrator_makes_sees_once_and_revokes_a_token(server, page, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sign_in(page, server, "admin")
    page.goto(server)
    assert page.locator('nav.menu a[href="/tokens/"]').inner_text() == "API 令牌"
    first = make(page, server, "kaiyang", "开阳县医院信息系统", "read", "90")
    assert first.startswith("ncms_") and status_of(server + "api/v1/claims", first) == 200
    row = page.locator("#token-list tr[data-state=active]").first
    row.locator("summary").click()  # the confirmation: a second button, inside
    row.get_by_role("button", name="撤销此令牌").click()
    page.wait_for_load_state()
    assert "已撤销" in page.locator(".flash").inner_text()
    assert page.locator("#token-list tr[data-state=revoked]").count() == 1
    assert status_of(server + "api/v1/claims", first) == 401

    second = make(page, server, "auditor", "省数据中心", "write", "365")
    assert "仅显示这一次" in page.locator("#new-token").inner_text() and len(second) == 48
    assert page.locator("#t-expires_days").input_value() == "90" and page.locator("#t-name").input_value() == ""
    assert status_of(server + "api/v1/findings", second) == 200
    shoot(page, tmp_path, "tokens-zh")
    no_serious_accessibility_violations(page, server)
    page.goto(server + "tokens/")
    assert page.locator("#token-secret").count() == 0 and second not in page.content()  # once
    assert page.locator("#token-list tbody tr").count() == 2
