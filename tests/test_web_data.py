"""The data pages: batches by county with status, counts, gaps and lateness; one batch with its
refused rows (both languages, national IDs masked), receipt and archive; the archived row a
record came from. Scoping: a county officer's guessed ids are not found, the ministry sees
counts and never a refused row's contents or a source row."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import date

import pytest
from sqlalchemy import select

from ncms.db import session_scope
from ncms.ids import mask_national_id
from ncms.ingest import ingest_package
from ncms.models import AuditLog, Batch, BatchStatus

from .packages import COUNTY, basic, claim, member, national_id, package
from .test_browser import page, server  # noqa: F401 - fixtures: the demo served, a Chromium page
from .webauth import OTHER_COUNTY, add_accounts, sign_in

TODAY = date(2012, 2, 1)
PERSON_ID = national_id("52012219850315004")  # a national ID sent as a member number: refused, masked


@pytest.fixture
def batches(loaded_engine, settings, tmp_path):  # type: ignore[no-untyped-def]
    """County 520122: package 1 loads in part (an unknown member's enrolment, a claim at an unknown
    institution), package 3 loads, package 2 never arrives, then a file that is no package; county
    520121: one package of members."""
    settings.ensure_dirs()

    def load(path, sender):  # type: ignore[no-untyped-def]
        return ingest_package(loaded_engine, settings, path, today=TODAY, sender=sender).batch_id

    enrolments = [dict(member_no="M1", year="2011", contribution="30.00", enrolled_on=None),
                  dict(member_no=PERSON_ID, year="2011", contribution="30.00", enrolled_on=None)]
    partial = load(basic(tmp_path / "p1.zip", enrolments=enrolments,
                         claims=[claim("C1"), claim("C2", institution_code="520122399999")],
                         claim_items=[]), COUNTY)
    third = load(package(tmp_path / "p3.zip", seq=3, members=[member("M3")]), COUNTY)
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    refused = load(junk, COUNTY)
    other = load(package(tmp_path / "o1.zip", county=OTHER_COUNTY,
                         members=[member("M7", national_id=national_id("52012119700101007"))]), OTHER_COUNTY)
    return {"partial": partial, "third": third, "refused": refused, "other": other}


@pytest.fixture
def app(settings, loaded_engine):  # type: ignore[no-untyped-def]
    from ncms.web import create_app

    add_accounts(loaded_engine)
    return create_app(replace(settings, secret_key="test"), {"TESTING": True})


@pytest.fixture
def browsers(app):  # type: ignore[no-untyped-def]
    clients = {}
    for name in ("admin", "auditor", "officer", "ministry"):
        clients[name] = app.test_client()
        assert sign_in(clients[name], name).status_code == 302
    return clients


def html(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def shown_batches(page: str) -> set[int]:
    return {int(n) for n in re.findall(r'data-batch="(\d+)"', page)}


def test_the_list_shows_every_batch_with_its_status_counts_gaps_and_lateness(browsers, batches):
    page = html(browsers["auditor"].get("/data/?lang=en"))
    assert shown_batches(page) == set(batches.values())
    assert f'data-county="{COUNTY}"' in page and f'data-county="{OTHER_COUNTY}"' in page
    county_row = page.split(f'data-county="{COUNTY}"')[1].split("</tr>")[0]
    assert "missing 2" in county_row  # package 2 never arrived
    assert "loaded in part 1" in county_row and "refused 1" in county_row
    assert "periods behind" in county_row or "period behind" in county_row or "on time" in county_row
    assert "nothing received" in page  # a county of the province that sent nothing
    row = page.split(f'data-batch="{batches["refused"]}"')[1].split("</tr>")[0]
    assert "not_zip" in row and "refused" in row


def test_filters_by_county_status_and_period_and_pages(browsers, batches, monkeypatch):
    auditor = browsers["auditor"]
    assert shown_batches(html(auditor.get(f"/data/?county={OTHER_COUNTY}"))) == {batches["other"]}
    assert shown_batches(html(auditor.get("/data/?status=partial"))) == {batches["partial"]}
    assert shown_batches(html(auditor.get("/data/?status=rejected"))) == {batches["refused"]}
    by_period = shown_batches(html(auditor.get("/data/?period=2011-Q1")))
    assert batches["partial"] in by_period and batches["refused"] not in by_period  # no period: received today
    assert shown_batches(html(auditor.get("/data/?period=2010"))) == set()
    wrong = html(auditor.get("/data/?period=2011-13&lang=en"))
    assert "is not a period" in wrong and shown_batches(wrong) == set(batches.values())
    monkeypatch.setattr("ncms.web.data.views.BATCHES_PER_PAGE", 3)
    first, second = html(auditor.get("/data/")), html(auditor.get("/data/?page=2"))
    assert len(shown_batches(first)) == 3 and len(shown_batches(second)) == 1
    assert shown_batches(first) | shown_batches(second) == set(batches.values())


def test_a_county_officer_sees_their_county_only_and_guessed_ids_are_not_found(browsers, batches):
    officer = browsers["officer"]
    page = html(officer.get("/data/"))
    assert shown_batches(page) == {batches["partial"], batches["third"], batches["refused"]}
    assert f'data-county="{OTHER_COUNTY}"' not in page
    assert officer.get(f"/data/?county={OTHER_COUNTY}").status_code == 404
    assert shown_batches(html(officer.get("/data/?status=loaded"))) == {batches["third"]}
    other = batches["other"]
    for url in (f"/data/batch/{other}", f"/data/batch/{other}/receipt.json", f"/data/batch/{other}/receipt.csv",
                f"/data/batch/{other}/source?table=member&key=M7", "/data/batch/99999999",
                "/data/batch/99999999/source?table=member&key=M7"):
        assert officer.get(url).status_code == 404, url
    assert officer.get(f"/data/batch/{batches['partial']}").status_code == 200


def test_a_batch_shows_counts_per_table_refused_rows_in_both_languages_receipt_and_archive(
        browsers, batches, settings):
    page = html(browsers["auditor"].get(f"/data/batch/{batches['partial']}?lang=en"))
    with session_scope(browsers["auditor"].application.extensions["ncms.engine"]) as s:
        batch = s.get(Batch, batches["partial"])
        sha, status = batch.sha256, batch.status
    assert status is BatchStatus.PARTIAL
    tables = page.split('id="batch-tables"')[1].split("</table>")[0]
    assert 'data-table="enrolment"' in tables and 'data-table="claim"' in tables
    refused = page.split('id="batch-refused"')[1].split("</table>")[0]
    assert "unknown_member" in refused and "unknown_institution" in refused
    assert "520122399999" in refused  # values shown as sent, so the county can find the row
    assert "未" in refused and "not registered" in refused  # both languages
    assert PERSON_ID not in page and mask_national_id(PERSON_ID) in refused
    assert sha in page
    archived = next((settings.archive_dir / sha[:2]).glob(f"{sha}*"))
    assert f"{archived.stat().st_size:,} bytes" in page
    receipt = browsers["auditor"].get(f"/data/batch/{batches['partial']}/receipt.csv")
    assert receipt.status_code == 200 and "attachment" in receipt.headers["Content-Disposition"]
    assert receipt.data == next((settings.spool_dir / COUNTY / "outbox").glob(
        f"receipt-{COUNTY}-0001-batch{batches['partial']}.csv")).read_bytes()
    assert PERSON_ID not in receipt.data.decode("utf-8-sig")
    whole = html(browsers["auditor"].get(f"/data/batch/{batches['refused']}?lang=en"))
    assert "not_zip" in whole and "不是" in whole  # a package refused as a whole: why, in both languages


def test_refused_rows_are_paged(browsers, batches, monkeypatch):
    monkeypatch.setattr("ncms.web.data.views.ROWS_PER_PAGE", 1)
    first = html(browsers["auditor"].get(f"/data/batch/{batches['partial']}"))
    second = html(browsers["auditor"].get(f"/data/batch/{batches['partial']}?page=2"))
    rows = [p.split('id="batch-refused"')[1].split("</table>")[0].count("<tr>") - 1 for p in (first, second)]
    assert rows == [1, 1]
    assert ("unknown_member" in first.split('id="batch-refused"')[1]) != \
        ("unknown_member" in second.split('id="batch-refused"')[1])


def test_the_ministry_sees_counts_but_no_refused_row_receipt_or_source_row(browsers, batches):
    ministry = browsers["ministry"]
    assert batches["other"] in shown_batches(html(ministry.get("/data/")))
    page = html(ministry.get(f"/data/batch/{batches['partial']}?lang=en"))
    assert 'id="batch-codes"' in page and "unknown_member" in page  # how many, and why
    assert 'id="batch-refused"' not in page and 'id="refused-withheld"' in page
    assert "520122399999" not in page and "not registered" not in page and mask_national_id(PERSON_ID) not in page
    for url in (f"/data/batch/{batches['partial']}/receipt.csv", f"/data/batch/{batches['partial']}/receipt.json",
                f"/data/batch/{batches['partial']}/source?table=claim&key=C2"):
        assert ministry.get(url).status_code == 403, url


def test_the_source_row_is_read_from_the_archive_masked_unless_revealed_and_audited(browsers, batches, loaded_engine):
    auditor = browsers["auditor"]
    batch = batches["partial"]
    page = html(auditor.get(f"/data/batch/{batch}"))
    link = f"/data/batch/{batch}/source?table=claim&amp;file=claims.csv&amp;line=3"
    assert link in page  # a refused row links to itself as sent
    assert "claims.csv, line 3" in html(auditor.get(link.replace("&amp;", "&") + "&lang=en"))
    assert auditor.get(f"/data/batch/{batch}/source?table=claim&file=claims.csv&line=99").status_code == 404
    row = html(auditor.get(f"/data/batch/{batch}/source?table=claim&key=C2&lang=en"))
    assert "claims.csv, line 3" in row
    assert "institution_code" in row and "520122399999" in row
    patient = member("M1")["national_id"]
    assert patient not in row and mask_national_id(patient) in row
    with session_scope(loaded_engine) as s:
        assert s.scalar(select(AuditLog.id).where(AuditLog.action == "personal.view")) is None
    whole = html(auditor.get(f"/data/batch/{batch}/source?table=claim&key=C2&reveal=1"))
    assert patient in whole
    member_row = html(auditor.get(f"/data/batch/{batch}/source?table=member&key=M1&reveal=1"))
    assert "张M1" in member_row
    masked_member = html(auditor.get(f"/data/batch/{batch}/source?table=member&key=M1"))
    assert "张M1" not in masked_member and "张**" in masked_member
    items = html(auditor.get(f"/data/batch/{batch}/source?table=enrolment&key=M1/2011"))
    assert "enrolments.csv, line 2" in items
    with session_scope(loaded_engine) as s:
        lines = s.execute(select(AuditLog.actor, AuditLog.target, AuditLog.detail)
                          .where(AuditLog.action == "personal.view").order_by(AuditLog.id)).all()
    assert [(a, t) for a, t, _ in lines] == [("auditor", f"batch:{batch}/claim/C2"),
                                            ("auditor", f"batch:{batch}/member/M1")]
    assert lines[0][2]["county"] == COUNTY and lines[0][2]["fields"] == ["national_id"]
    for url in (f"/data/batch/{batch}/source?table=claim&key=NOPE", f"/data/batch/{batch}/source?table=claim",
                f"/data/batch/{batch}/source?table=nothing&key=C2",
                f"/data/batch/{batches['refused']}/source?table=claim&key=C2"):
        assert auditor.get(url).status_code == 404, url
    officer = browsers["officer"]
    assert patient in html(officer.get(f"/data/batch/{batch}/source?table=claim&key=C1&reveal=1"))


@pytest.mark.browser
def test_the_data_pages_in_a_browser(server, page, tmp_path):  # type: ignore[no-untyped-def]
    """The auditor opens the data page from the menu, filters, opens a batch and a row as sent;
    no serious accessibility violation; screenshots in both languages (NCMS_SCREENSHOTS)."""
    from .test_browser import no_serious_accessibility_violations, shoot
    from .test_browser import sign_in as browser_sign_in

    problems = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    browser_sign_in(page, server, "auditor")
    page.get_by_role("link", name="数据").first.click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "各县数据报送"
    assert page.locator("#data-counties tbody tr").count() == 6
    assert page.locator("#data-batches tbody tr").count() > 0
    no_serious_accessibility_violations(page, server)
    shoot(page, tmp_path, "data-index-zh")
    page.locator("#f-status").select_option("partial")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_load_state()
    assert "status=partial" in page.url
    page.locator("#data-batches tbody tr a").first.click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text().startswith("批次")
    assert page.locator("#batch-sha").inner_text().strip() != "—"
    assert page.locator("#batch-refused tbody tr").count() > 0
    no_serious_accessibility_violations(page, server)
    shoot(page, tmp_path, "data-batch-zh")
    page.get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text().startswith("Batch")
    shoot(page, tmp_path, "data-batch-en")
    page.goto(server + "data/")
    assert page.locator("h1").inner_text() == "Data from the counties"
    shoot(page, tmp_path, "data-index-en")
    page.go_back()
    page.wait_for_load_state()
    page.locator("#batch-refused tbody tr a").first.click()  # a refused row, as its county sent it
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "Row as sent"
    assert page.locator("table.source-row tbody tr").count() > 3
    no_serious_accessibility_violations(page, server)
    shoot(page, tmp_path, "data-source-en")
    assert problems == []
