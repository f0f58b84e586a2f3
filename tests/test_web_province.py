"""The province at a glance: each county's figures as ncms.indicators computes them, the period
and county filters, what each role sees; in a real browser, an auditor filtering and drilling
down from a county to an institution."""
from __future__ import annotations

import json
import re
from html import unescape

import pytest

from .conftest import DATABASES
from .webauth import COUNTY, OTHER_COUNTY, sign_in
from .webpages import client_of, synthetic_province


@pytest.fixture(scope="module", params=DATABASES)
def province(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    """(engine, app) of a synthetic province of two years with its findings and features."""
    yield from synthetic_province(request, tmp_path_factory, "glance", seed=5, claims=4_000, years=(2010, 2011))


def cells(html: str, marker: str) -> list[str]:
    """The text of each cell of the table row holding ``marker``."""
    row = html.split(marker, 1)[1].split("</tr>", 1)[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", cell)).strip()
            for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", marker + row, flags=re.S)]


def expected_cells(app, figures) -> list[str]:  # type: ignore[no-untyped-def]
    """What a row of the table shows for an ``Indicators``, formatted as the page does (Chinese)."""
    from ncms.web.formatting import money, money_compact, number, percent

    with app.test_request_context("/"):
        return [number(figures.members), percent(figures.participation_rate), number(figures.claims().claims),
                money_compact(figures.compensation), percent(figures.fund_usage_rate),
                percent(figures.elapsed_share),
                {"deficit": "赤字", "surplus": "结余过多", "none": "无"}[figures.warning_state],
                number(figures.undecided), money(figures.money_at_stake)]


def indicators_of(engine, period: str, counties=None):  # type: ignore[no-untyped-def]
    from ncms.db import session_scope
    from ncms.indicators import Period, indicators

    with session_scope(engine) as s:
        return indicators(s, Period.parse(period), counties)


def test_each_countys_row_and_the_total_are_the_indicators(province):
    engine, app = province
    html = client_of(app, "auditor").get("/").get_data(as_text=True)
    assert "2011" in re.search(r'<option value="2011" selected', html).group(0)  # the newest year by default
    table = indicators_of(engine, "2011")
    for figures in table.counties:
        shown = cells(html, f'data-county="{figures.county_codes[0]}"')
        assert shown[0].startswith(figures.name)
        assert shown[1:10] == expected_cells(app, figures), figures.county_codes
    assert cells(html, "data-total")[1:10] == expected_cells(app, table.total)
    assert table.total.money_at_stake > 0 and table.total.undecided > 0  # the test shows something


def test_the_period_and_county_filters(province):
    engine, app = province
    auditor = client_of(app, "auditor")
    html = auditor.get("/?period=2010-Q3").get_data(as_text=True)
    for figures in indicators_of(engine, "2010-Q3").counties:
        assert cells(html, f'data-county="{figures.county_codes[0]}"')[1:10] == expected_cells(app, figures)
    html = auditor.get(f"/?period=2011-07&county={COUNTY}").get_data(as_text=True)
    assert re.findall(r'data-county="(\d{6})"', html) == [COUNTY]
    [figures] = indicators_of(engine, "2011-07", [COUNTY]).counties
    assert cells(html, f'data-county="{COUNTY}"')[1:10] == expected_cells(app, figures)
    assert f'href="/county/{COUNTY}?period=2011-07"' in html  # the county's page, same period
    assert auditor.get("/?period=2011-13").status_code == 404
    assert auditor.get("/?county=999999").status_code == 404
    fragment = auditor.get("/?period=2011-Q1", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="glance"') and "<html" not in fragment


def test_the_charts_and_the_institutions_are_those_of_the_start_page(province):
    from ncms.db import session_scope
    from ncms.indicators import Period, start_page

    engine, app = province
    html = client_of(app, "auditor").get("/?period=2011").get_data(as_text=True)
    with session_scope(engine) as s:
        page = start_page(s, Period.parse("2011"))
    assert html.count(' data-chart=') == 3
    shown = re.findall(r'data-institution="(\d+)"', html)
    assert shown == [i.code for i in page.institutions] and shown
    for rule in page.rules:
        assert f'data-rule="{rule.rule_code}"' in html
    if "institution.show" in app.view_functions:
        assert f'href="/institution/{page.institutions[0].code}"' in html


def test_a_county_officer_lands_on_their_countys_page_also_from_the_start_page(province):
    from .webauth import PASSWORD, csrf_token

    _, app = province
    officer = app.test_client()
    assert sign_in(officer, "officer").headers["Location"] == f"/county/{COUNTY}"
    # signing in from / (next=/) lands on /, which sends them on to their county
    anonymous = app.test_client()
    sent = anonymous.get("/").headers["Location"]
    assert sent.startswith("/sign-in?next=")
    form = anonymous.get(sent).get_data(as_text=True)
    landed = anonymous.post(sent, data={"username": "officer", "password": PASSWORD, "next": "/",
                                        "csrf_token": csrf_token(form)})
    assert landed.headers["Location"] == "/"
    assert anonymous.get("/").headers["Location"] == f"/county/{COUNTY}"
    # the period asked for is kept; another county is not found, as everywhere
    assert officer.get("/?period=2011-Q3").headers["Location"] == f"/county/{COUNTY}?period=2011-Q3"
    assert officer.get(f"/?period=2010&county={COUNTY}").headers["Location"] == f"/county/{COUNTY}?period=2010"
    assert officer.get(f"/?county={OTHER_COUNTY}").status_code == 404
    assert "data-county=" not in officer.get("/", follow_redirects=True).get_data(as_text=True)


def test_the_ministry_sees_the_provinces_figures(province):
    engine, app = province
    html = client_of(app, "ministry").get("/").get_data(as_text=True)
    assert len(re.findall(r'data-county="(\d{6})"', html)) == 6
    assert cells(html, "data-total")[1:10] == expected_cells(app, indicators_of(engine, "2011").total)
    assert "/member/" not in html and "/claim/" not in html


def test_the_bar_charts_keep_their_labels_inside_and_the_whole_names_in_the_tooltip(province):
    from ncms.web.claim.links import rule_title

    _, app = province
    html = client_of(app, "auditor").get("/?period=2011&lang=en").get_data(as_text=True)
    options = [json.loads(unescape(o)) for o in re.findall(r'data-chart="([^"]*)"', html)]
    rules = re.findall(r'data-rule="([^"]+)"', html)
    with app.test_request_context("/?lang=en"):
        titles = [rule_title(code) for code in rules]
    by_rule = next(o for o in options if o["yAxis"].get("data") == titles[::-1])  # whole, the first at the top
    assert max(len(title) for title in titles) > 20  # a name that would not fit a phone's chart
    for option in (by_rule, options[-1]):
        assert option["grid"]["containLabel"] is True
        assert option["yAxis"]["axisLabel"]["overflow"] == "truncate" and option["yAxis"]["axisLabel"]["width"] > 0
