"""The first page shows the province's counties, in Chinese by default and in English on request."""
from __future__ import annotations

import re

import pytest

from .webauth import add_accounts, sign_in


@pytest.fixture
def client(app, loaded_engine):  # type: ignore[no-untyped-def]
    """A provincial auditor's browser."""
    add_accounts(loaded_engine)
    browser = app.test_client()
    assert sign_in(browser, "auditor").status_code == 302
    return browser


def test_home_lists_the_counties_in_chinese(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'lang="zh-CN"' in html
    assert "全省统筹县" in html
    codes = re.findall(r'data-county="(\d{6})"', html)
    assert codes == ["520121", "520122", "520123", "520322", "520323", "520422"]
    assert "开阳县" in html and "普定县" in html  # their figures: tests/test_web_province.py


def test_english_is_chosen_and_remembered(client):
    html = client.get("/?lang=en").get_data(as_text=True)
    assert 'lang="en"' in html and "Counties of the province" in html and "Kaiyang" in html
    assert "Counties of the province" in client.get("/").get_data(as_text=True)
    assert "全省统筹县" in client.get("/?lang=zh_Hans_CN").get_data(as_text=True)


def test_empty_database_tells_what_to_run(settings, engine):
    from dataclasses import replace

    from ncms.accounts import create_user
    from ncms.db import session_scope
    from ncms.models import Role
    from ncms.web import create_app

    with session_scope(engine) as session:
        create_user(session, "admin", Role.ADMIN, "first administrator")
    browser = create_app(replace(settings, secret_key="t")).test_client()
    sign_in(browser, "admin", "first administrator")
    html = browser.get("/").get_data(as_text=True)
    assert "ncms db load-config" in html


def test_healthz_reports_revision(client):
    body = client.get("/healthz").get_json()
    assert body["status"] == "ok" and body["revision"] == body["expected_revision"]


def test_healthz_fails_on_an_unmigrated_database(settings, bare_engine):
    from dataclasses import replace

    from ncms.web import create_app

    response = create_app(replace(settings, secret_key="t")).test_client().get("/healthz")  # no sign-in
    assert response.status_code == 503
    assert response.get_json()["status"] == "error"


def test_home_shows_what_each_county_has_sent(app, client, settings, loaded_engine, tmp_path):
    from ncms.ingest import ingest_package

    from .packages import COUNTY, basic

    settings.ensure_dirs()
    for seq in (1, 3):
        ingest_package(loaded_engine, settings, basic(tmp_path / f"p{seq}.zip", seq=seq), sender=COUNTY)
    html = client.get("/").get_data(as_text=True)
    row = html.split(f'data-county="{COUNTY}"')[1].split("</tr>")[0]
    assert "缺 2 号包" in row
    other = html.split('data-county="520121"')[1].split("</tr>")[0]
    assert "尚未报送" in other
