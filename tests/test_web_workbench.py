"""The findings workbench (/findings/): filters, sorting, paging, counts per status, saved filters,
bulk assign / push / dismiss with what was left and why, rule exceptions made from a dismissal,
exports (CSV with a BOM and quoted formulas, Excel with string cells), and who sees what."""
from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ncms.db import session_scope
from ncms.models import (
    ExceptionSubject,
    Finding,
    FindingEvent,
    FindingMonth,
    FindingStatus,
    Institution,
    RuleException,
    SavedFilter,
    Severity,
    User,
)
from ncms.review.calendar import local_day
from ncms.web.exports import content_disposition, neutral

from .webauth import ACCOUNTS, COUNTY, OTHER_COUNTY, add_accounts, csrf_token, sign_in

RULES = ("duplicate_claim", "care_after_death", "split_admission")
NOW = datetime.now(timezone.utc).replace(microsecond=0)
TODAY = NOW.date()


@pytest.fixture
def bench(settings, loaded_engine):  # type: ignore[no-untyped-def]
    """(app, engine, {username: client}) with 120 findings: 80 of OTHER_COUNTY, 40 of COUNTY,
    of three rules, both severities, amounts 10..1200, first seen 0..119 days ago; ten pushed
    (five of them overdue), and the auditor assigned five."""
    from ncms.web import create_app

    add_accounts(loaded_engine)
    with session_scope(loaded_engine) as s:
        institutions = {c: s.scalars(sa.select(Institution.id).where(Institution.area_code == c)
                                     .order_by(Institution.id).limit(2)).all() for c in (COUNTY, OTHER_COUNTY)}
        auditor = s.scalar(sa.select(User.id).where(User.username == "auditor"))
        for n in range(120):
            county = OTHER_COUNTY if n < 80 else COUNTY
            f = Finding(rule_code=RULES[n % 3], rule_version="1", subject_key=f"claim:{county}:T{n:04d}",
                        county_code=county, institution_id=institutions[county][n % 2] if n % 5 else None,
                        severity=Severity.VIOLATION if n % 2 else Severity.SUSPICIOUS,
                        amount_at_stake=Decimal(10 * (n + 1)), first_seen_at=NOW - timedelta(days=n),
                        last_seen_at=NOW, period_start=date(2011, 1 + n % 12, 1), period_end=date(2011, 1 + n % 12, 28),
                        evidence={"ev_code": "=1+1" if n == 7 else f"X{n}"})
            if 10 <= n < 20:
                f.status, f.pushed_at = FindingStatus.SENT_TO_COUNTY, NOW - timedelta(days=30)
                f.due_on = TODAY - timedelta(days=1) if n < 15 else TODAY + timedelta(days=10)
            if 20 <= n < 25:
                f.assignee_id = auditor
            if n == 30:
                f.status = FindingStatus.CONFIRMED
            s.add(f)
    app = create_app(replace(settings, secret_key="test"), {"TESTING": True})
    clients = {}
    for name in ACCOUNTS:
        clients[name] = app.test_client()
        assert sign_in(clients[name], name).status_code == 302
    return app, loaded_engine, clients


def ids_on(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-finding="(\d+)"', page)]


def db_ids(engine, *where, order=(Finding.id,)) -> list[int]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return list(conn.execute(sa.select(Finding.id).where(*where).order_by(*order)).scalars())


def get(client, url: str) -> str:  # type: ignore[no-untyped-def]
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True)


def every_id(client, url: str) -> list[int]:  # type: ignore[no-untyped-def]
    """The ids of every page of a listing, in order."""
    found, page = [], 1
    while True:
        body = get(client, f"{url}{'&' if '?' in url else '?'}page={page}")
        found += ids_on(body)
        if 'rel="next"' not in body:
            return found
        page += 1


def test_the_menu_leads_to_the_workbench_for_the_roles_that_may_open_it(bench):
    _, _, clients = bench
    assert 'href="/findings/"' in get(clients["auditor"], "/data/")
    assert 'href="/findings/"' in get(clients["officer"], "/data/")
    assert 'href="/findings/"' not in get(clients["ministry"], "/data/")
    assert clients["ministry"].get("/findings/").status_code == 403
    assert clients["ministry"].get("/findings/export.csv").status_code == 403
    assert clients["officer"].get("/findings/exceptions").status_code == 403


@pytest.mark.parametrize("query, where", [
    ("rule=care_after_death", [Finding.rule_code == "care_after_death"]),
    (f"county={COUNTY}", [Finding.county_code == COUNTY]),
    ("severity=violation", [Finding.severity == Severity.VIOLATION]),
    ("status=sent_to_county&status=confirmed",
     [Finding.status.in_([FindingStatus.SENT_TO_COUNTY, FindingStatus.CONFIRMED])]),
    ("period=2011-03", [Finding.period_start <= date(2011, 3, 31), Finding.period_end >= date(2011, 3, 1)]),
    ("period=2011-Q2", [Finding.period_start <= date(2011, 6, 30), Finding.period_end >= date(2011, 4, 1)]),
    ("min=100&max=250", [Finding.amount_at_stake >= 100, Finding.amount_at_stake <= 250]),
    ("age_min=100", [Finding.first_seen_at <= NOW - timedelta(days=100)]),
    ("age_max=3", [Finding.first_seen_at >= NOW - timedelta(days=3)]),
    ("assignee=unassigned", [Finding.assignee_id.is_(None)]),
    ("overdue=1", [Finding.status == FindingStatus.SENT_TO_COUNTY, Finding.due_on < TODAY]),
])
def test_each_filter_narrows_to_exactly_its_findings(bench, query, where):
    _, engine, clients = bench
    expected = db_ids(engine, *where)
    assert 0 < len(expected) < 120
    assert sorted(every_id(clients["auditor"], f"/findings/?{query}&sort=id&dir=asc")) == expected


def test_institution_seen_dates_and_mine(bench):
    _, engine, clients = bench
    with engine.connect() as conn:
        inst_id, code = conn.execute(sa.select(Institution.id, Institution.code).join(
            Finding, Finding.institution_id == Institution.id).limit(1)).one()
    assert sorted(every_id(clients["auditor"], f"/findings/?institution={code}")) == \
        db_ids(engine, Finding.institution_id == inst_id)
    day = local_day(NOW - timedelta(days=5))  # days are Beijing's, as the deadlines'
    with engine.connect() as conn:
        seen = sorted(i for i, at in conn.execute(sa.select(Finding.id, Finding.first_seen_at)) if local_day(at) == day)
    assert sorted(every_id(clients["auditor"], f"/findings/?seen_from={day}&seen_to={day}")) == seen != []
    mine = every_id(clients["auditor"], "/findings/?assignee=mine")
    assert sorted(mine) == db_ids(engine, Finding.assignee_id.is_not(None)) and len(mine) == 5
    assert every_id(clients["admin"], "/findings/?assignee=mine") == []
    page = get(clients["auditor"], "/findings/?period=2011-13&min=abc")
    errors = re.findall(r'<p class="flash error">([^<]*)</p>', page)
    assert len(errors) == 2 and "2011-13" in errors[0] and "abc" in errors[1]


SORTS = {"id": [Finding.id], "rule": [Finding.rule_code], "county": [Finding.county_code],
         "severity": [Finding.severity], "status": [Finding.status], "amount": [Finding.amount_at_stake],
         "first_seen": [Finding.first_seen_at]}


@pytest.mark.parametrize("column", ["id", "rule", "county", "institution", "severity", "status", "amount",
                                    "first_seen", "due", "assignee"])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_sorting_by_each_column_both_ways_with_a_stable_tie_break(bench, column, direction):
    _, engine, clients = bench
    shown = every_id(clients["auditor"], f"/findings/?sort={column}&dir={direction}")
    assert len(shown) == 120 and len(set(shown)) == 120
    with engine.connect() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(
            Finding.id, Finding.rule_code, Finding.county_code, Finding.severity, Finding.status,
            Finding.amount_at_stake, Finding.first_seen_at, Finding.due_on,
            Institution.code.label("institution"), User.username.label("assignee"))
            .outerjoin(Institution, Institution.id == Finding.institution_id)
            .outerjoin(User, User.id == Finding.assignee_id))}
    key = {"id": "id", "rule": "rule_code", "county": "county_code", "institution": "institution",
           "severity": "severity", "status": "status", "amount": "amount_at_stake", "first_seen": "first_seen_at",
           "due": "due_on", "assignee": "assignee"}[column]

    def value(i):  # type: ignore[no-untyped-def]
        v = getattr(rows[i], key)
        return v.value if hasattr(v, "value") else v

    values = [value(i) for i in shown]
    present = [v for v in values if v is not None]
    assert values[:len(present)] == present, "empty values come last"
    assert present == sorted(present, reverse=direction == "desc")
    if column != "id":  # ties in id order, the same way
        for a, b in zip(shown, shown[1:]):
            if value(a) == value(b):
                assert (a < b) == (direction == "asc")
    assert len(set(values)) > 1


def test_pages_of_fifty_and_counts_per_status(bench):
    _, engine, clients = bench
    first = get(clients["auditor"], "/findings/?sort=id&dir=asc")
    assert ids_on(first) == db_ids(engine)[:50]
    assert ids_on(get(clients["auditor"], "/findings/?sort=id&dir=asc&page=3")) == db_ids(engine)[100:]
    assert "120" in re.search(r'id="wb-total">([^<]+)<', first).group(1)
    counts = dict(re.findall(r'data-status="(\w+)" data-count="(\d+)"', first))
    assert counts == {"open": "109", "sent_to_county": "10", "county_responded": "0", "confirmed": "1",
                      "dismissed": "0", "closed": "0"}
    narrowed = get(clients["auditor"], f"/findings/?county={COUNTY}&status=confirmed")
    counts = dict(re.findall(r'data-status="(\w+)" data-count="(\d+)"', narrowed))
    assert counts["open"] == str(len(db_ids(engine, Finding.county_code == COUNTY,
                                            Finding.status == FindingStatus.OPEN)))
    assert ids_on(narrowed) == [] and counts["confirmed"] == "0"  # the confirmed one is OTHER_COUNTY's


def test_counts_per_status_are_kept_until_a_finding_moves(bench, monkeypatch):
    """The counts of a filter are kept for its next pages and sorts, per scope, until the review
    loop or a rule run writes (an event, a run) or COUNTS_SECONDS pass."""
    from ncms.web.findings import views

    _, engine, clients = bench

    def counts(client, query: str = "") -> dict[str, str]:  # type: ignore[no-untyped-def]
        return dict(re.findall(r'data-status="(\w+)" data-count="(\d+)"', get(client, "/findings/" + query)))

    assert counts(clients["auditor"])["open"] == "109"
    behind = db_ids(engine, Finding.status == FindingStatus.OPEN)[0]
    with session_scope(engine) as s:  # changed behind the loop's back: no event, no run
        s.execute(sa.update(Finding).where(Finding.id == behind).values(status=FindingStatus.DISMISSED))
    assert counts(clients["auditor"], "?sort=amount&dir=asc&page=2")["open"] == "109"  # kept
    own = db_ids(engine, Finding.county_code == COUNTY, Finding.status == FindingStatus.OPEN)
    assert counts(clients["officer"])["open"] == str(len(own))  # another scope: its own counts
    pushed = db_ids(engine, Finding.status == FindingStatus.OPEN)[:2]
    assert bulk(clients["auditor"], action="push", ids=pushed).status_code == 200
    assert counts(clients["auditor"]) == {"open": "106", "sent_to_county": "12", "county_responded": "0",
                                          "confirmed": "1", "dismissed": "1", "closed": "0"}
    with session_scope(engine) as s:
        s.execute(sa.update(Finding).where(Finding.id == behind).values(status=FindingStatus.OPEN))
    assert counts(clients["auditor"])["open"] == "106"
    monkeypatch.setattr(views, "COUNTS_SECONDS", 0)
    assert counts(clients["auditor"])["open"] == "107"  # and counted again when they are old


def test_saved_filters_belong_to_their_owner(bench):
    _, engine, clients = bench
    auditor, admin = clients["auditor"], clients["admin"]
    page = get(auditor, "/findings/")
    token = csrf_token(page)
    assert auditor.post("/findings/saved", data={"name": "mine", "query": "rule=care_after_death&page=3"}
                        ).status_code == 400  # no token: refused
    response = auditor.post("/findings/saved", data={"name": "死亡后就诊", "query": "rule=care_after_death&page=3",
                                                     "csrf_token": token})
    assert response.status_code == 302
    with engine.connect() as conn:
        saved = conn.execute(sa.select(SavedFilter.id, SavedFilter.query)).one()
    assert saved.query == "rule=care_after_death"  # the page is not part of it
    listed = get(auditor, "/findings/")
    assert "死亡后就诊" in listed and 'href="/findings/?rule=care_after_death"' in listed
    assert "死亡后就诊" not in get(admin, "/findings/")
    admin_token = csrf_token(get(admin, "/findings/"))
    other = admin.post("/findings/saved/delete", data={"id": saved.id, "csrf_token": admin_token})
    assert other.status_code == 404  # someone else's: not found, and kept
    assert auditor.post("/findings/saved/delete", data={"id": saved.id, "csrf_token": token}).status_code == 302
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(SavedFilter)) == 0


def bulk(client, **data):  # type: ignore[no-untyped-def]
    data["csrf_token"] = csrf_token(get(client, "/findings/"))
    return client.post("/findings/bulk", data=data)


def test_bulk_push_sends_open_findings_and_says_why_others_were_left(bench):
    _, engine, clients = bench
    sent = db_ids(engine, Finding.status == FindingStatus.SENT_TO_COUNTY)[:2]
    opened = db_ids(engine, Finding.status == FindingStatus.OPEN)[:3]
    refused = clients["auditor"].post("/findings/bulk", data={"action": "push", "ids": opened})
    assert refused.status_code == 400  # no CSRF token
    assert db_ids(engine, Finding.id.in_(opened), Finding.status == FindingStatus.OPEN) == opened
    response = bulk(clients["auditor"], action="push", ids=opened + sent + [999999], note="请核实")
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-done="3" data-skipped="3"' in body
    for i in sent:
        assert re.search(rf'data-finding="{i}">.*?“已下发县”：只有“待处理”的疑点可以推送至县', body, re.S)
    assert re.search(r'data-finding="999999">.*?未找到', body, re.S)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Finding.status, Finding.due_on, Finding.pushed_at)
                            .where(Finding.id.in_(opened))).all()
        assert {r.status for r in rows} == {FindingStatus.SENT_TO_COUNTY}
        assert all(r.due_on > TODAY and r.pushed_at is not None for r in rows)
        notes = conn.execute(sa.select(FindingEvent.text).where(FindingEvent.finding_id.in_(opened))).scalars().all()
        assert notes == ["请核实"] * 3


def test_bulk_assign_and_unassign(bench):
    _, engine, clients = bench
    chosen = db_ids(engine, Finding.status == FindingStatus.OPEN)[:4]
    with engine.connect() as conn:
        admin_id = conn.scalar(sa.select(User.id).where(User.username == "admin"))
        confirmed = conn.scalar(sa.select(Finding.id).where(Finding.status == FindingStatus.CONFIRMED))
    body = bulk(clients["auditor"], action="assign", ids=chosen + [confirmed], assignee=admin_id).get_data(as_text=True)
    assert 'data-done="4" data-skipped="1"' in body
    assert db_ids(engine, Finding.assignee_id == admin_id) == chosen
    assert sorted(every_id(clients["admin"], "/findings/?assignee=mine")) == chosen
    bulk(clients["auditor"], action="assign", ids=chosen, assignee="")
    assert db_ids(engine, Finding.assignee_id == admin_id) == []


def test_bulk_dismiss_needs_a_reason_refreshes_the_summary_and_can_make_an_exception(bench):
    _, engine, clients = bench
    chosen = db_ids(engine, Finding.status == FindingStatus.OPEN, Finding.county_code == COUNTY,
                    Finding.institution_id.is_not(None))[:3]
    no_reason = bulk(clients["auditor"], action="dismiss", ids=chosen, reason=" ")
    assert no_reason.status_code == 302
    assert db_ids(engine, Finding.id.in_(chosen), Finding.status == FindingStatus.DISMISSED) == []
    with engine.connect() as conn:
        code, rule = conn.execute(sa.select(Institution.code, Finding.rule_code).join(
            Finding, Finding.institution_id == Institution.id).where(Finding.id == chosen[0])).one()
    body = bulk(clients["auditor"], action="dismiss", ids=chosen, reason="县里约定的做法", exception="1",
                exc_kind="institution", exc_code=code, exc_expires=str(TODAY + timedelta(days=200)),
                exc_where="county").get_data(as_text=True)
    assert 'data-done="3" data-skipped="0"' in body and 'id="wb-exception"' in body
    assert db_ids(engine, Finding.id.in_(chosen), Finding.status == FindingStatus.DISMISSED) == chosen
    with engine.connect() as conn:
        exc = conn.execute(sa.select(RuleException)).one()
        assert (exc.rule_code, exc.subject_kind, exc.subject_code, exc.county_code, exc.finding_id) == \
            (rule, ExceptionSubject.INSTITUTION, code, COUNTY, chosen[0])
        dismissed = conn.scalar(sa.select(sa.func.sum(FindingMonth.dismissed)))
    assert dismissed == 3  # the start page's summary counted in the same step
    # a bad exception undoes the dismissal too
    more = db_ids(engine, Finding.status == FindingStatus.OPEN, Finding.county_code == COUNTY)[:2]
    bad = bulk(clients["auditor"], action="dismiss", ids=more, reason="x", exception="1",
               exc_kind="institution", exc_code="NO-SUCH", exc_expires=str(TODAY + timedelta(days=10)))
    assert bad.status_code == 302
    assert db_ids(engine, Finding.id.in_(more), Finding.status == FindingStatus.DISMISSED) == []

    listed = get(clients["auditor"], "/findings/exceptions")
    assert f'data-exception="{exc.id}"' in listed and "县里约定的做法" in listed and "auditor" in listed
    token = csrf_token(listed)
    assert clients["auditor"].post("/findings/exceptions/revoke", data={"id": exc.id, "reason": ""},
                                   ).status_code == 400  # no token
    clients["auditor"].post("/findings/exceptions/revoke", data={"id": exc.id, "reason": "", "csrf_token": token})
    with engine.connect() as conn:
        assert conn.scalar(sa.select(RuleException.revoked_at)) is None  # a reason is required
    clients["auditor"].post("/findings/exceptions/revoke", data={"id": exc.id, "reason": "约定到期",
                                                                 "csrf_token": token})
    with engine.connect() as conn:
        assert conn.scalar(sa.select(RuleException.revoke_reason)) == "约定到期"
    assert "约定到期" in get(clients["auditor"], "/findings/exceptions")


def test_all_matching_the_filter_and_its_cap(bench, monkeypatch):
    _, engine, clients = bench
    expected = db_ids(engine, Finding.rule_code == "split_admission", Finding.status == FindingStatus.OPEN)
    body = bulk(clients["auditor"], action="assign", scope="all", assignee="",
                query="rule=split_admission&status=open").get_data(as_text=True)
    assert f'data-done="{len(expected)}" data-skipped="0"' in body
    from ncms.web.findings import views

    monkeypatch.setattr(views, "MAX_BULK", 10)
    capped = bulk(clients["auditor"], action="push", scope="all", query="rule=split_admission")
    assert capped.status_code == 302
    flash = re.search(r'<p class="flash error"[^>]*>([^<]*)</p>', get(clients["auditor"], capped.headers["Location"]))
    assert flash and re.search(r"\b40\b.*\b10\b", flash.group(1))  # 40 match, at most 10
    assert db_ids(engine, Finding.rule_code == "split_admission", Finding.status == FindingStatus.SENT_TO_COUNTY) == \
        db_ids(engine, Finding.rule_code == "split_admission", Finding.id >= 10, Finding.id < 30,
               Finding.status == FindingStatus.SENT_TO_COUNTY)


def test_a_county_officer_sees_their_county_only_and_never_changes_anything(bench):
    _, engine, clients = bench
    officer = clients["officer"]
    shown = every_id(officer, "/findings/?sort=id&dir=asc")
    assert shown == db_ids(engine, Finding.county_code == COUNTY) and len(shown) == 40
    page = get(officer, "/findings/")
    assert OTHER_COUNTY not in page and 'name="ids"' not in page  # no county select, no bulk steps
    assert officer.get(f"/findings/?county={OTHER_COUNTY}").status_code == 404
    assert officer.get(f"/findings/export.csv?county={OTHER_COUNTY}").status_code == 404
    assert every_id(officer, "/findings/?overdue=1") == []  # the overdue ones are OTHER_COUNTY's
    other = db_ids(engine, Finding.county_code == OTHER_COUNTY, Finding.status == FindingStatus.OPEN)[:5]
    response = officer.post("/findings/bulk", data={"action": "dismiss", "ids": other, "reason": "x",
                                                    "csrf_token": csrf_token(page)})
    assert response.status_code == 403
    response = officer.post("/findings/bulk", data={"action": "push", "scope": "all", "query": "",
                                                    "csrf_token": csrf_token(page)})
    assert response.status_code == 403
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(FindingEvent)) == 0
    export = officer.get("/findings/export.csv").get_data(as_text=True)
    assert OTHER_COUNTY not in export and export.count("\r\n") == 41


def test_the_province_auditor_bulk_of_ids_across_counties_changes_each_once(bench):
    _, engine, clients = bench
    ids = db_ids(engine, Finding.status == FindingStatus.OPEN, Finding.county_code == COUNTY)[:2] + \
        db_ids(engine, Finding.status == FindingStatus.OPEN, Finding.county_code == OTHER_COUNTY)[:2]
    body = bulk(clients["auditor"], action="push", ids=ids).get_data(as_text=True)
    assert 'data-done="4"' in body


def test_csv_export_has_a_bom_the_filter_the_sort_and_quoted_formulas(bench):
    _, engine, clients = bench
    response = clients["auditor"].get("/findings/export.csv?rule=split_admission&sort=amount&dir=asc")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=\"findings-")
    data = response.get_data()
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["id", "rule", "rule_title"]
    ids = [int(r[0]) for r in rows[1:]]
    assert ids == db_ids(engine, Finding.rule_code == "split_admission", order=(Finding.amount_at_stake, Finding.id))
    assert [r[9] for r in rows[1:3]] == ["30.00", "60.00"]  # numbers unquoted
    # a text cell that looks like a formula comes out quoted
    with session_scope(engine) as s:
        s.execute(sa.update(Finding).where(Finding.id == ids[0]).values(subject_key="=1+1"))
        s.execute(sa.update(Finding).where(Finding.id == ids[1]).values(subject_key="@SUM(A1)"))
    rows = list(csv.reader(io.StringIO(clients["auditor"].get(
        "/findings/export.csv?rule=split_admission&sort=amount&dir=asc").get_data().decode("utf-8-sig"))))
    assert rows[1][-1] == "'=1+1" and rows[2][-1] == "'@SUM(A1)"


def test_xlsx_export_writes_formulas_as_strings(bench):
    _, engine, clients = bench
    first = db_ids(engine)[0]
    with session_scope(engine) as s:
        s.execute(sa.update(Finding).where(Finding.id == first).values(subject_key="=HYPERLINK(\"http://x\")"))
    response = clients["auditor"].get("/findings/export.xlsx?sort=id&dir=asc")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = zipfile.ZipFile(io.BytesIO(response.get_data()))
    sheet = book.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet  # no formula anywhere
    assert sheet.count("<row ") == 121
    cell = re.search(r'<c r="N2"[^>]*>(.*?)</c>', sheet).group(0)
    assert 't="inlineStr"' in cell or 't="s"' in cell
    assert "HYPERLINK" in cell or "HYPERLINK" in book.read("xl/sharedStrings.xml").decode()
    amount = re.search(r'<c r="J2"[^>]*>(.*?)</c>', sheet).group(0)
    assert "t=" not in amount and "<v>10</v>" in amount  # a number stays a number


@pytest.mark.parametrize("value, out", [("=1+1", "'=1+1"), ("+86", "'+86"), ("-2", "'-2"), ("@x", "'@x"),
                                        ("\tx", "'\tx"), ("\rx", "'\rx"), ("a=1", "a=1"), (-2, -2),
                                        (Decimal("-1.5"), Decimal("-1.5"))])
def test_neutral_quotes_text_that_starts_like_a_formula(value, out):
    assert neutral(value) == out


def test_content_disposition_keeps_a_chinese_name_and_a_safe_fallback():
    header = content_disposition('疑点 "清单"/2011.csv')
    assert header.startswith('attachment; filename="')
    fallback = re.search(r'filename="([^"]*)"', header).group(1)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", fallback)
    assert "filename*=UTF-8''%E7%96%91%E7%82%B9%20%22%E6%B8%85%E5%8D%95%22_2011.csv" in header
