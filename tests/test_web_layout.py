"""The frame of every page: locale formats (Jinja filters), the header's menu that pages plug
into, the chart macro that needs no inline script, and the vendored assets as their README lists."""
from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from flask import Blueprint, render_template_string

from ncms.web.scope import personal_data, roles_required
from ncms.models import Role

from .webauth import add_accounts, sign_in

VENDOR = Path(__file__).resolve().parents[1] / "ncms" / "web" / "static" / "vendor"


@pytest.fixture
def app(settings, loaded_engine):  # type: ignore[no-untyped-def]
    from ncms.web import create_app

    add_accounts(loaded_engine)
    return create_app(replace(settings, secret_key="test"), {"TESTING": True})


def render(app, source: str, lang: str, **context) -> str:  # type: ignore[no-untyped-def]
    with app.test_request_context(f"/?lang={lang}"):
        return render_template_string(source, **context)


@pytest.mark.parametrize("lang, expected", [
    ("zh_Hans_CN", ["¥1,234,567.50", "1,234,567", "15.3%", "2011年3月31日", "2011年3月", "123.46万元"]),
    ("en", ["CN¥1,234,567.50", "1,234,567", "15.3%", "Mar 31, 2011", "Mar 2011", "1.23M yuan"]),
])
def test_numbers_money_and_dates_follow_the_language(app, lang, expected):
    source = ("{{ amount|money }}|{{ 1234567|number }}|{{ share|percent }}|{{ day|day }}|{{ day|month }}|"
              "{{ amount|money_compact }}")
    shown = render(app, source, lang, amount=Decimal("1234567.50"), share=Decimal("0.153"), day=date(2011, 3, 31))
    assert shown.split("|") == expected


@pytest.mark.parametrize("lang, expected", [
    ("zh_Hans_CN", ["1,692.93元", "999.5元", "-1,692.93元", "1.23万元", "0元"]),
    ("en", ["1.69K yuan", "999.5 yuan", "-1.69K yuan", "12.35K yuan", "0 yuan"]),
])
def test_a_compact_amount_the_locale_does_not_shorten_is_grouped_as_numbers_are(app, lang, expected):
    amounts = [Decimal("1692.93"), Decimal("999.5"), Decimal("-1692.93"), Decimal("12345.6"), Decimal("0")]
    shown = render(app, "|".join(f"{{{{ a[{i}]|money_compact }}}}" for i in range(len(amounts))), lang, a=amounts)
    assert shown.split("|") == expected


def test_a_moment_is_shown_in_the_provinces_time_zone(app):
    at = datetime(2011, 3, 31, 23, 30, tzinfo=timezone.utc)  # 07:30 the next morning in Guizhou
    assert "2011/4/1" in render(app, "{{ at|moment }}", "zh_Hans_CN", at=at)
    assert "{{ none|money }}" and render(app, "{{ none|money }}{{ none|day }}", "en") == "——"


def test_personal_fields_are_masked_by_the_filters(app):
    shown = render(app, "{{ '52012219800101123X'|mask_id }} {{ '张三丰'|mask_name }}", "en")
    assert shown == "520122********123X 张**"


def test_pages_plug_into_the_menu_shown_to_the_roles_that_may_open_them(app):
    from ncms.web.layout import add_nav

    bp = Blueprint("extra", __name__)

    @bp.get("/extra")
    @roles_required(Role.ADMIN, Role.AUDITOR, Role.COUNTY, Role.MINISTRY)
    def index():  # type: ignore[no-untyped-def]
        return "a page every role may open"

    @bp.get("/people")
    @personal_data
    def people():  # type: ignore[no-untyped-def]
        return "people"

    app.register_blueprint(bp)
    add_nav(app, "extra.index", "Extra")
    add_nav(app, "extra.people", "People")
    menus = {}
    for name in ("auditor", "ministry"):
        client = app.test_client()
        sign_in(client, name)
        menus[name] = re.findall(r'<nav class="menu"[^>]*>(.*?)</nav>', client.get("/").get_data(as_text=True), re.S)[0]
    assert 'href="/"' in menus["auditor"] and 'href="/"' in menus["ministry"]
    assert 'href="/data/"' in menus["auditor"] and 'href="/data/"' in menus["ministry"]  # the data pages' own entry
    assert 'href="/extra"' in menus["auditor"] and 'href="/extra"' in menus["ministry"]
    assert "People" in menus["auditor"] and "People" not in menus["ministry"]


def test_a_chart_carries_its_options_as_escaped_json(app):
    source = ('{% from "_macros.html" import chart %}'
              '{{ chart("Money by rule", option={"title": {"text": "<b>\\"x\\"</b>"}}) }}'
              '{{ chart("Monthly", url="/charts/monthly.json", size="tall") }}')
    html = render(app, source, "en")
    assert 'data-chart-url="/charts/monthly.json"' in html and 'class="chart chart-tall"' in html
    attribute = re.search(r'data-chart="([^"]*)"', html).group(1)
    import html as html_module
    import json

    assert json.loads(html_module.unescape(attribute)) == {"title": {"text": '<b>"x"</b>'}}
    assert "<b>" not in html and 'role="img" aria-label="Money by rule"' in html


def test_a_page_with_charts_loads_echarts_and_charts_js_from_the_app(app):
    html = render(app, '{% extends "base.html" %}{% set charts = true %}', "en")
    assert '<script src="/static/vendor/echarts.min.js" defer></script>' in html
    assert '<script src="/static/charts.js" defer></script>' in html
    assert "echarts" not in render(app, '{% extends "base.html" %}', "en")


def test_the_vendored_files_are_those_their_readme_lists():
    readme = (VENDOR / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([\w.-]+)` \|.*\| `([0-9a-f]{64})` \|$", readme, re.M)
    files = {p.name for p in VENDOR.iterdir() if p.suffix in (".js", ".css")}
    assert {name for name, _ in rows} == files == {
        "echarts.min.js", "htmx.min.js", "axe.min.js", "swagger-ui-bundle.js", "swagger-ui.css"}
    for name, digest in rows:
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    for licence in re.findall(r"`licenses/([\w.-]+)`", readme):
        assert (VENDOR / "licenses" / licence).is_file(), licence
