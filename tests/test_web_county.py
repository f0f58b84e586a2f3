"""The county page (``county.show``): its figures are ncms.indicators' (headline figures, the fund
month by month), its institutions ranked by money at stake and by anomaly score, its findings a
page at a time linked to their subjects, its batches linked to their data page; the period
filter; what each role sees. On the synthetic province of tests/webpages.py (SQLite and
PostgreSQL)."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timezone

import sqlalchemy as sa

from ncms.indicators import Period

from .webauth import COUNTY, OTHER_COUNTY, sign_in
from .webpages import client_of, province  # noqa: F401  (the fixture)

WARNING = {"deficit": "赤字", "surplus": "结余过多", "none": "无"}


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def row_cells(html: str, marker: str) -> list[str]:
    """The text of each cell of the table row holding ``marker`` (an attribute of its <tr>)."""
    row = html.split(marker, 1)[1].split("</tr>", 1)[0]
    return [text(cell) for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S)]


def rows_of(html: str, table_id: str, attribute: str) -> list[str]:
    """The ``attribute`` of each row of table ``table_id``, in order."""
    body = html.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return re.findall(rf'<tr {attribute}="([^"]+)"', body)


def facts(html: str) -> list[str]:
    """The headline figures: each <dd>, in order."""
    block = html.split('id="county-facts"', 1)[1].split("</dl>", 1)[0]
    return [text(dd) for dd in re.findall(r"<dd[^>]*>(.*?)</dd>", block, flags=re.S)]


def figures_of(engine, period: str, county: str = COUNTY):  # type: ignore[no-untyped-def]
    from ncms.db import session_scope
    from ncms.indicators import indicators

    with session_scope(engine) as s:
        return indicators(s, Period.parse(period), [county]).counties[0]


def newest_year(engine, county: str = COUNTY) -> int:  # type: ignore[no-untyped-def]
    from ncms.models import CountyMonth

    with engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.max(CountyMonth.year)).where(CountyMonth.county_code == county))


def formatted(app, figures) -> list[str]:  # type: ignore[no-untyped-def]
    """The headline figures of an ``Indicators`` as the page writes them (Chinese): members,
    participation, claims, compensation, fund used, year elapsed, fund warning, open findings,
    money at stake."""
    from ncms.web.formatting import money, number, percent

    with app.test_request_context("/"):
        return [number(figures.members), percent(figures.participation_rate), number(figures.claims().claims),
                money(figures.compensation), percent(figures.fund_usage_rate), percent(figures.elapsed_share),
                WARNING[figures.warning_state], number(figures.undecided), money(figures.money_at_stake)]


def expected_findings(engine, county: str, period: Period) -> list:  # type: ignore[no-untyped-def]
    """The county's findings about care in the period, the largest amount first: read here from
    every finding of the county and placed in Python (the month their period starts, else the
    month they were raised), the fund warnings apart."""
    from ncms.models import Finding
    from ncms.monitor.stake import FUND_RULES

    start = datetime.combine(period.start, time.min, tzinfo=timezone.utc)
    end = datetime.combine(period.end, time.max, tzinfo=timezone.utc)

    def in_period(f) -> bool:  # type: ignore[no-untyped-def]
        if f.period_start is not None:
            return period.start <= f.period_start <= period.end
        seen = f.first_seen_at if f.first_seen_at.tzinfo else f.first_seen_at.replace(tzinfo=timezone.utc)
        return start <= seen <= end

    with engine.connect() as conn:
        every = conn.execute(sa.select(Finding).where(Finding.county_code == county)).all()
    chosen = [f for f in every if f.rule_code not in FUND_RULES and in_period(f)]
    return sorted(chosen, key=lambda f: (-f.amount_at_stake, f.id))


def all_pages(client, url: str) -> tuple[list[str], dict[str, str]]:  # type: ignore[no-untyped-def]
    """Every page of the findings: their ids in order, and each one's row."""
    ids, rows, page = [], {}, 1
    while True:
        html = client.get(f"{url}&page={page}").get_data(as_text=True)
        shown = rows_of(html, "findings", "data-finding")
        ids += shown
        for ident in shown:
            rows[ident] = html.split(f'data-finding="{ident}"', 1)[1].split("</tr>", 1)[0]
        if 'rel="next"' not in html:
            return ids, rows
        page += 1


def test_the_headline_figures_are_the_indicators_and_the_newest_year_is_the_default(province):
    engine, app = province
    auditor = client_of(app, "auditor")
    year = newest_year(engine)
    html = auditor.get(f"/county/{COUNTY}").get_data(as_text=True)
    assert re.search(rf'<option value="{year}" selected', html)
    for period in (str(year), f"{year}-Q2", f"{year}-07"):
        html = auditor.get(f"/county/{COUNTY}?period={period}").get_data(as_text=True)
        figures = figures_of(engine, period)
        assert facts(html) == formatted(app, figures), period
    assert figures_of(engine, str(year)).money_at_stake > 0  # the page has something to show


def test_the_fund_month_by_month_is_each_months_indicators(province):
    from ncms.web.formatting import money, month as month_name, percent

    engine, app = province
    year = newest_year(engine)
    html = client_of(app, "auditor").get(f"/county/{COUNTY}?period={year}-Q2").get_data(as_text=True)
    assert rows_of(html, "fund", "data-month") == [str(m) for m in range(1, 13)]
    for month in range(1, 13):
        figures = figures_of(engine, f"{year}-{month:02d}")
        with app.test_request_context("/"):
            expected = [month_name(date(year, month, 1)), money(figures.compensation), money(figures.financing_total),
                        money(figures.paid_to_date), percent(figures.fund_usage_rate), percent(figures.elapsed_share)]
        assert row_cells(html, f'data-month="{month}"')[:6] == expected, month
    in_period = re.findall(r'<tr data-month="(\d+)" class="in-period"', html)
    assert in_period == ["4", "5", "6"]
    assert sum(figures_of(engine, f"{year}-{m:02d}").compensation for m in range(1, 13)) > 0


def test_institutions_are_ranked_by_money_at_stake_and_by_anomaly_score(province):
    from ncms.db import session_scope
    from ncms.indicators import top_institutions
    from ncms.models import Institution, InstitutionMonth

    engine, app = province
    year = newest_year(engine)
    period = Period.parse(str(year))
    html = client_of(app, "auditor").get(f"/county/{COUNTY}?period={year}").get_data(as_text=True)
    with session_scope(engine) as s:
        by_stake = top_institutions(s, period, [COUNTY], limit=10)
        windows = s.execute(sa.select(Institution.code, InstitutionMonth.score, InstitutionMonth.month,
                                      InstitutionMonth.months)
                            .join(Institution, Institution.id == InstitutionMonth.institution_id)
                            .where(InstitutionMonth.county_code == COUNTY, InstitutionMonth.year == year,
                                   InstitutionMonth.score.is_not(None))).all()
    assert rows_of(html, "by-stake", "data-institution") == [i.code for i in by_stake] and by_stake
    stakes = [i.money_at_stake for i in by_stake]
    assert stakes == sorted(stakes, reverse=True)
    highest: dict[str, float] = {}
    for code, score, month, months in windows:
        if month <= period.last_month and month + months - 1 >= period.first_month:  # overlaps the period
            highest[code] = max(highest.get(code, score), score)
    expected = sorted(highest, key=lambda code: (-highest[code], code))[:10]
    assert rows_of(html, "by-score", "data-institution") == expected and expected
    table = html.split('id="by-score"', 1)[1].split("</table>", 1)[0]
    shown = [float(row_cells(table, f'data-institution="{code}"')[1]) for code in expected]
    assert shown == sorted(shown, reverse=True) == [round(highest[code], 2) for code in expected]
    if "institution.show" in app.view_functions:
        assert f'href="/institution/{expected[0]}"' in html


def test_the_findings_a_page_at_a_time_each_linked_to_its_subject(province, monkeypatch):
    from ncms.models import Claim, County, Institution, Member
    from ncms.web.county import queries, views

    size = 4  # the synthetic province has a few dozen findings a county: pages of 4 to turn
    monkeypatch.setattr(queries, "PAGE_SIZE", size)
    monkeypatch.setattr(views, "PAGE_SIZE", size)
    engine, app = province
    year = newest_year(engine)
    period = Period.parse(str(year))
    auditor = client_of(app, "auditor")
    with engine.connect() as conn:
        counties = conn.scalars(sa.select(County.code).order_by(County.code)).all()
        claims = dict(conn.execute(sa.select(Claim.id, Claim.source_id)).all())
        members = {(county, number): ident for ident, county, number in conn.execute(
            sa.select(Member.id, Member.county_code, Member.member_no))}
        codes = dict(conn.execute(sa.select(Institution.id, Institution.code)).all())
    kinds, paged = set(), 0
    for county in counties:
        expected = expected_findings(engine, county, period)
        url = f"/county/{county}?period={year}"
        first = auditor.get(url).get_data(as_text=True)
        assert re.search(rf'id="findings-heading"[^>]*>.*?<span class="muted">{len(expected):,}</span>', first, re.S)
        assert rows_of(first, "findings", "data-finding") == [str(f.id) for f in expected[:size]]
        ids, rows = all_pages(auditor, url)
        assert ids == [str(f.id) for f in expected], county  # every finding once, in order, over the pages
        pages = -(-len(expected) // size)
        paged += pages > 1
        assert auditor.get(f"{url}&page={pages + 1}").status_code == 404 or pages == 0
        for f in expected:
            row, kind = rows[str(f.id)], f.subject_key.split(":")[0]
            if f.claim_id in claims:
                kinds.add("claim")
                assert f'href="/claim/{f.claim_id}"' in row and claims[f.claim_id] in row, f.subject_key
            elif kind in ("member", "enrolment"):
                kinds.add("member")
                member = members[(county, f.subject_key.split(":")[2])]
                assert f'href="/member/{member}"' in row, f.subject_key
            elif f.institution_id:
                kinds.add("institution")
                assert f'href="/institution/{codes[f.institution_id]}"' in row, f.subject_key
    assert kinds == {"claim", "member", "institution"} and paged
    for bad in ("0", "-1", "two"):
        assert auditor.get(f"/county/{COUNTY}?period={year}&page={bad}").status_code == 404


def test_the_batches_covering_the_period_link_to_their_data_page(province):
    from ncms.models import Batch

    engine, app = province
    year = newest_year(engine)
    period = Period.parse(f"{year}-Q3")
    with engine.connect() as conn:
        batches = conn.execute(sa.select(Batch.id, Batch.period_start, Batch.period_end, Batch.received_at)
                               .where(Batch.county_code == COUNTY)).all()
    covering = [b for b in batches if (b.period_start is None or b.period_start <= period.end)
                and (b.period_end is None or b.period_end >= period.start)]
    expected = [str(b.id) for b in sorted(covering, key=lambda b: (b.received_at, b.id), reverse=True)]
    html = client_of(app, "auditor").get(f"/county/{COUNTY}?period={year}-Q3").get_data(as_text=True)
    assert rows_of(html, "batches", "data-batch") == expected and expected
    assert len(covering) < len(batches) or len(batches) == 1  # the period chooses
    for ident in expected:
        assert f'href="/data/batch/{ident}"' in html


def test_the_period_filter(province):
    engine, app = province
    auditor = client_of(app, "auditor")
    year = newest_year(engine)
    for period, lead in ((str(year), f"{year}年"), (f"{year}-Q3", f"{year}年第3季度"), (f"{year}-03", f"{year}年3月")):
        html = auditor.get(f"/county/{COUNTY}?period={period}").get_data(as_text=True)
        assert re.search(rf'<option value="{period}" selected', html), period
        assert lead in text(html.split('class="lead"', 1)[1].split("</p>", 1)[0]), period
    for bad in (f"{year}-13", f"{year}-Q5", "soon", "20111"):
        assert auditor.get(f"/county/{COUNTY}?period={bad}").status_code == 404, bad
    fragment = auditor.get(f"/county/{COUNTY}?period={year}-Q1", headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="county-figures"')
    assert "<html" not in fragment.get_data(as_text=True)


def test_a_county_officer_opens_their_county_and_no_other(province):
    engine, app = province
    officer = client_of(app, "officer")
    year = newest_year(engine)
    html = officer.get(f"/county/{COUNTY}?period={year}").get_data(as_text=True)
    assert facts(html) == formatted(app, figures_of(engine, str(year)))
    assert 'href="/claim/' in html  # their county's claims, linked
    assert 'href="/?' not in html  # no way up to the province
    for code in (OTHER_COUNTY, "999999"):
        assert officer.get(f"/county/{code}").status_code == 404, code
        assert officer.get(f"/county/{code}?period={year}", headers={"HX-Request": "true"}).status_code == 404


def test_a_county_officer_is_not_linked_to_another_countys_institution(province):
    """The county's findings name institutions of other counties too (its members treated
    there): their officer sees the name, not a link to a page they would find *not found*."""
    from ncms.db import session_scope
    from ncms.indicators import top_institutions
    from ncms.models import County, Role, User

    from .webauth import _hash

    engine, app = province
    year = newest_year(engine)
    with session_scope(engine) as s:
        counties = s.scalars(sa.select(County.code).order_by(County.code)).all()
        county, elsewhere = next((c, i) for c in counties
                                 for i in top_institutions(s, Period.parse(str(year)), [c]) if i.area_code != c)
        s.add(User(username=f"officer-{county}", role=Role.COUNTY, county_code=county, password_hash=_hash[0]))
    link = f'href="/institution/{elsewhere.code}"'
    url = f"/county/{county}?period={year}"
    officer = client_of(app, f"officer-{county}").get(url).get_data(as_text=True)
    assert f'data-institution="{elsewhere.code}"' in officer and link not in officer
    assert link in client_of(app, "auditor").get(url).get_data(as_text=True)
    assert 'href="/institution/' in officer  # their own county's institutions are linked


def test_the_ministry_sees_the_figures_but_no_claim_or_member(province):
    from ncms.models import Claim, Member
    from ncms.web.masking import mask_name

    engine, app = province
    year = newest_year(engine)
    ministry = client_of(app, "ministry")
    html = ministry.get(f"/county/{COUNTY}?period={year}").get_data(as_text=True)
    assert facts(html) == formatted(app, figures_of(engine, str(year)))
    assert rows_of(html, "findings", "data-finding")  # the findings are counted and listed...
    assert "/claim/" not in html and "/member/" not in html  # ...not who or which claim
    shown = [f.claim_id for f in expected_findings(engine, COUNTY, Period.parse(str(year)))[:25] if f.claim_id]
    with engine.connect() as conn:
        claims = conn.execute(sa.select(Claim.source_id, Member.name).join(
            Member, sa.and_(Member.county_code == Claim.county_code, Member.member_no == Claim.member_no))
            .where(Claim.id.in_(shown))).all()
    assert claims and not [number for number, _ in claims if number in html]
    assert not [name for _, name in claims if name and (name in html or mask_name(name) in html)]
    auditor = client_of(app, "auditor").get(f"/county/{COUNTY}?period={year}").get_data(as_text=True)
    assert [number for number, _ in claims if number in auditor]  # what the ministry does not see


def test_anonymous_is_sent_to_sign_in(province):
    _, app = province
    response = app.test_client().get(f"/county/{COUNTY}?period=2011")
    assert response.status_code == 302 and response.headers["Location"].startswith("/sign-in?next=")
    assert sign_in(app.test_client(), "officer").headers["Location"] == f"/county/{COUNTY}"
