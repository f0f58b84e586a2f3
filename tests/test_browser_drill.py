"""A real browser down the console's drill-down on the served demo: an auditor filters the start
page and follows the links from a county to an institution, a claim and the archived row it came
from; a county officer stays in their county; a ministry viewer sees figures and no claim. Every
main page passes axe-core (no serious or critical violation), and the README's screenshots of the
pages are taken in both languages (``NCMS_SCREENSHOTS=docs/screenshots``)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from ncms.models import Claim

from .conftest import CONFIG_DIR, postgres_schema
from .test_browser import no_serious_accessibility_violations, page, serving, shoot, sign_in  # noqa: F401

pytestmark = pytest.mark.browser
OFFICER, OWN, OTHER = "kaiyang", "520121", "520122"  # the demo's county officer, their county, another


def _serve(url: str, folder: Path):  # type: ignore[no-untyped-def]
    """``ncms demo`` into ``url``, then ``ncms serve`` in a child process; yields the site's URL."""
    from ncms.cli import main

    base = ["--data-dir", str(folder / "var"), "--database-url", url, "--config-dir", str(CONFIG_DIR)]
    demo = CliRunner().invoke(main, [*base, "demo", "--claims", "3000"], catch_exceptions=False)
    assert demo.exit_code == 0, demo.output
    yield from serving(url, folder / "var")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def demo(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    """(site URL, engine) of the demo served once for this file's tests, per database."""
    folder = tmp_path_factory.mktemp("drill")
    if request.param == "sqlite":
        url = f"sqlite:///{folder / 'ncms.db'}"
        engine = sa.create_engine(url)
        yield from ((site, engine) for site in _serve(url, folder))
        engine.dispose()
        return
    with postgres_schema("drill") as url:
        engine = sa.create_engine(url)
        try:
            yield from ((site, engine) for site in _serve(url, folder))
        finally:
            engine.dispose()


def follow(page, link) -> None:  # type: ignore[no-untyped-def]
    """Click a link and wait for the page it opens."""
    link.click()
    page.wait_for_load_state()


def h1(page) -> str:  # type: ignore[no-untyped-def]
    return page.locator("h1").inner_text()


def sign_out(page, site: str) -> None:  # type: ignore[no-untyped-def]
    follow(page, page.locator(".sign-out button"))
    assert "/sign-in" in page.url
    page.goto(site)
    assert "/sign-in" in page.url  # signed out for good


def test_an_auditor_filters_the_start_page_and_drills_down_to_the_archived_row(demo, page):
    site, _ = demo
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    sign_in(page, site, "auditor")
    assert h1(page) == "全省概览" and page.locator("#counties tbody tr").count() == 6
    year = page.locator("#period").input_value()
    quarter = f"{year}-Q2"
    with page.expect_response(lambda response: f"period={quarter}" in response.url):
        page.locator("#period").select_option(quarter)  # htmx swaps the figures in place
    with page.expect_response(lambda response: f"county={OTHER}" in response.url):
        page.locator("#county").select_option(OTHER)
    page.wait_for_function(f"document.querySelectorAll('#counties tbody tr').length === 1")
    assert f"period={quarter}" in page.url and f"county={OTHER}" in page.url  # the filtered page's address
    assert page.locator("#counties tbody tr").get_attribute("data-county") == OTHER
    assert "第2季度" in page.locator("#glance .lead").inner_text()

    follow(page, page.locator(f"#counties tr[data-county='{OTHER}'] th a"))  # the county
    assert re.search(rf"/county/{OTHER}\?period={quarter}$", page.url), page.url
    assert page.locator("#period").input_value() == quarter
    institutions = page.locator("main a[href*='/institution/']")
    assert institutions.count() > 0
    code = institutions.first.get_attribute("href").rsplit("/", 1)[1].split("?")[0]
    assert code.startswith(OTHER)

    follow(page, institutions.first)  # an institution of the county
    assert f"/institution/{code}" in page.url and code in h1(page)
    claims = page.locator("#costliest-claims a[href*='/claim/']")
    assert claims.count() > 0
    number = claims.first.inner_text()

    follow(page, claims.first)  # its costliest claim
    assert re.search(r"/claim/\d+$", page.url) and number in h1(page)
    assert page.locator(f"#claim-facts a[href$='/institution/{code}']").count() == 1  # the institution's claim

    follow(page, page.locator("#source-row"))  # the row as the county sent it
    assert "/data/batch/" in page.url and f"key={number}" in page.url
    assert h1(page) == "原始数据行"
    assert number in page.locator("main table").first.inner_text()
    sign_out(page, site)
    assert problems == []


def test_a_county_officer_lands_on_their_county_and_never_sees_another(demo, page):
    site, engine = demo
    with engine.connect() as conn:
        other_claim = conn.scalar(sa.select(sa.func.min(Claim.id)).where(Claim.county_code == OTHER))
    sign_in(page, site, OFFICER)
    assert re.search(rf"/county/{OWN}(\?|$)", page.url), page.url  # their home
    assert OWN in h1(page)
    assert page.locator("#county").count() == 0  # no county to choose
    for url in (f"county/{OTHER}", f"?county={OTHER}", f"institution/{OTHER}300001", f"claim/{other_claim}",
                f"data/?county={OTHER}"):
        response = page.goto(site + url)
        assert response.status == 404, url
        assert h1(page) == "未找到", url  # the not-found page, in their language
    follow(page, page.get_by_role("link", name="English"))
    assert page.goto(site + f"county/{OTHER}").status == 404 and h1(page) == "Not found"
    sign_out(page, site)


def test_a_ministry_viewer_sees_the_provinces_figures_and_no_claim(demo, page):
    site, engine = demo
    with engine.connect() as conn:
        claim = conn.scalar(sa.select(sa.func.min(Claim.id)))
    sign_in(page, site, "ministry")
    assert h1(page) == "全省概览"
    assert page.locator("#counties tbody tr").count() == 6
    total = page.locator("#counties tfoot tr[data-total]").inner_text()
    assert re.search(r"\d", total)  # the province's figures
    assert page.locator("main a[href*='/claim/'], main a[href*='/member/']").count() == 0
    response = page.goto(site + f"claim/{claim}")
    assert response.status == 403 and h1(page) == "无权访问"
    sign_out(page, site)


MAIN_PAGES = ("start", "county", "institution", "member", "claim", "data", "batch", "source row")


def walk_main_pages(page, site: str):  # type: ignore[no-untyped-def]
    """As a signed-in auditor, open each main page by its links; yields each page's name once
    it is shown (the page is left on it)."""
    page.goto(site)
    yield "start"
    follow(page, page.locator("#counties tbody th a").first)
    yield "county"
    follow(page, page.locator("main a[href*='/institution/']").first)
    yield "institution"
    follow(page, page.locator("#costliest-claims a[href*='/claim/']").first)
    claim = page.url
    yield "claim"
    follow(page, page.locator("#claim-member a"))
    yield "member"
    page.goto(claim)
    follow(page, page.locator("#claim-lineage a[href*='/data/batch/']").first)
    yield "batch"
    page.goto(claim)
    follow(page, page.locator("#source-row"))
    yield "source row"
    follow(page, page.locator("header a[href$='/data/']"))
    yield "data"


def test_no_serious_accessibility_violation_on_each_main_page(demo, page):
    site, _ = demo
    page.goto(site + "sign-in")
    no_serious_accessibility_violations(page, site)
    sign_in(page, site, "auditor")
    seen = []
    for name in walk_main_pages(page, site):
        seen.append(name)
        no_serious_accessibility_violations(page, site)
    assert sorted(seen) == sorted(MAIN_PAGES)
    assert page.goto(site + "no/such/page").status == 404
    no_serious_accessibility_violations(page, site)


SHOTS = ("county", "institution", "member", "claim")  # the README's; the data pages' are test_web_data's


def test_screenshots_of_the_drill_down_in_both_languages_and_the_start_page_on_a_phone(demo, page, tmp_path):
    site, _ = demo
    sign_in(page, site, "auditor")
    for lang, switch in (("zh", None), ("en", "English")):
        if switch:
            follow(page, page.get_by_role("link", name=switch))
        for name in walk_main_pages(page, site):
            if name in SHOTS:
                assert page.evaluate("document.documentElement.scrollWidth") <= 1366, name  # nothing overflows
                assert page.locator("html").get_attribute("lang") == ("en" if lang == "en" else "zh-CN")
                shoot(page, tmp_path, f"{name}-{lang}")
    follow(page, page.get_by_role("link", name="中文"))
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(site)
    assert h1(page) == "全省概览"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # the wide table scrolls in its box
    shoot(page, tmp_path, "province-phone-zh")
