"""Every route of the console walked with REAL ids of a loaded province, by every role and
anonymously: a county officer gets 404 (or nothing of it) for another county's claim, member,
batch, institution, county, source row and ``?county=``; the ministry gets 403 on every page of
personal data and sees no national ID or name on the pages it may open; anonymous visitors are
sent to sign in everywhere but the sign-in page, health and static files. The walk with made-up
ids and the probe pages is tests/test_web_scope.py's."""
from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from flask import url_for
from sqlalchemy import select

from ncms.db import session_scope
from ncms.models import Batch, BatchStatus, Claim, Finding, Institution, Member, Role
from ncms.web.scope import PUBLIC, policy_of

from .webauth import ACCOUNTS, COUNTY, OTHER_COUNTY
from .webpages import client_of, province  # noqa: F401 - fixture: the loaded province, per database

OPEN_TO_ALL = {"auth.sign_in", "health.healthz", "static"}
# the routes that take a POST (a new one must be walked here; a finding's steps: tests/test_web_finding.py)
NOT_GET = {"auth.sign_in", "auth.sign_out", "reports.build", "findings.act", "findings.bulk", "findings.save_filter",
           "findings.delete_filter", "findings.revoke_exception",
           "simulation.index", "simulation.export_pdf", "simulation.export_xlsx",  # tests/test_web_simulation.py
           "tokens.create", "tokens.revoke"}  # tests/test_web_tokens.py
NATIONAL_ID = re.compile(r"(?<![\d*])\d{6}(?:\d{8}|\*{8})\d{3}[\dX](?![\d*])")  # whole or masked
MASKED_NAME = re.compile(r"[\u4e00-\u9fff]\*+")


@dataclass(frozen=True)
class Ids:
    """One county's real ids, as the pages link to them."""
    county: str
    claim: int
    source_id: str
    member: int
    batch: int
    institution: str
    report: int = 0  # the county's own report (tests/test_web_reports.py's make_run)
    report_file: str = ""
    finding: int = 0  # a finding of the county's, with a file (with_finding)
    attachment: int = 0


def ids_of(engine, county: str) -> Ids:  # type: ignore[no-untyped-def]
    """A claim of ``county`` at one of its institutions with a finding (so its pages show people),
    its member, batch and institution."""
    with session_scope(engine) as s:
        claim = s.scalars(select(Claim).join(Finding, Finding.claim_id == Claim.id)
                          .join(Institution, Institution.id == Claim.institution_id)
                          .where(Claim.county_code == county, Institution.area_code == county,
                                 Claim.batch_id.is_not(None))
                          .order_by(Claim.id).limit(1)).one()
        member = s.scalar(select(Member.id).where(Member.county_code == county, Member.member_no == claim.member_no))
        batch = s.get(Batch, claim.batch_id)
        assert batch.status in (BatchStatus.LOADED, BatchStatus.PARTIAL) and batch.county_code == county
        institution = s.get(Institution, claim.institution_id)
        assert institution.area_code == county
        return Ids(county, claim.id, claim.source_id, member, batch.id, institution.code)


def with_report(engine, app, ids: Ids) -> Ids:  # type: ignore[no-untyped-def]
    """``ids`` with a quarterly report of its county built (statistics, a stand-in PDF) and one of its files."""
    from dataclasses import replace

    from .test_web_reports import make_run

    run_id = make_run(engine, app.config["NCMS_SETTINGS"], ids.county, period="2011-Q4")
    return replace(ids, report=run_id, report_file="claims_by_level.csv")


def with_finding(engine, app, ids: Ids) -> Ids:  # type: ignore[no-untyped-def]
    """``ids`` with a finding of its claim pushed to the county and given a comment carrying a PDF (the
    finding's and the file's ids)."""
    from dataclasses import replace
    from pathlib import Path

    from ncms.models import User
    from ncms.review import attachments, workflow
    from ncms.review.calendar import WorkCalendar

    with session_scope(engine) as s:
        finding = s.scalar(select(Finding).where(Finding.claim_id == ids.claim).order_by(Finding.id).limit(1))
        auditor = s.scalar(select(User).where(User.username == "auditor"))
        workflow.push(s, auditor, [finding.id], WorkCalendar(), "explain")  # pushed: the county's notice lists it
        event = workflow.comment(s, auditor, finding.id, "the county's scan")
        [row] = attachments.attach(s, auditor, finding, event, [attachments.Upload("scan.pdf", b"%PDF-1.4\n%%EOF\n")],
                                   Path(app.config["NCMS_SETTINGS"].data_dir))
        return replace(ids, finding=finding.id, attachment=row.id)


def urls(app, ids: Ids) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    """(endpoint, method, URL) of every route with ``ids`` in its path and query string, each
    page also with ``?county=`` and ``?reveal=1``."""
    path_values = {"claim_id": ids.claim, "member_id": ids.member, "batch_id": ids.batch, "kind": "json",
                   "run_id": ids.report, "name": ids.report_file, "finding_id": ids.finding,
                   "attachment_id": ids.attachment, "token_id": 1}  # a token's: POST only
    code_of = {"county.show": ids.county, "institution.show": ids.institution, "findings.notice": ids.county}
    queries = {"data.source_row": {"table": "claim", "key": ids.source_id}}
    out = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint == "static" or rule.rule.startswith("/api/"):  # the API: tests/test_api.py
                continue
            values = {}
            for arg in rule.arguments:
                if arg == "code":
                    values[arg] = code_of[rule.endpoint]
                else:
                    assert arg in path_values, f"{rule.endpoint}: walk its <{arg}> with a real id"
                    values[arg] = path_values[arg]
            url = url_for(rule.endpoint, **values, **queries.get(rule.endpoint, {}))
            joiner = "&" if "?" in url else "?"
            methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
            assert set(methods) <= {"GET"} or rule.endpoint in NOT_GET, f"{rule.endpoint}: walk its {methods}"
            if "GET" not in methods:
                out.append((rule.endpoint, "POST", url))
                continue
            out.append((rule.endpoint, "GET", url))
            out.append((rule.endpoint, "GET", url + joiner + urlencode({"county": ids.county})))
            out.append((rule.endpoint, "GET", url + joiner + "reveal=1"))
    return out


@pytest.fixture(scope="module")
def walk(province):  # type: ignore[no-untyped-def]
    """(app, engine, own county's ids, the other county's ids, a signed-in client per role)."""
    engine, app = province
    own, other = (with_finding(engine, app, with_report(engine, app, ids_of(engine, c)))
                  for c in (COUNTY, OTHER_COUNTY))
    clients = {name: client_of(app, name) for name in ACCOUNTS}
    return app, engine, own, other, clients


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    """A page's text; an Excel download's: the XML of its sheets and strings."""
    if response.mimetype.endswith("spreadsheetml.sheet"):
        with zipfile.ZipFile(io.BytesIO(response.get_data())) as book:
            return "".join(book.read(name).decode() for name in book.namelist() if name.endswith(".xml"))
    return response.get_data(as_text=True)


def fetch(client, method: str, url: str):  # type: ignore[no-untyped-def]
    return client.open(url, method=method)


def test_a_county_officer_never_reads_another_countys_data(walk):
    app, engine, own, other, clients = walk
    officer = clients["officer"]
    with session_scope(engine) as s:
        other_name = s.scalar(select(Institution.name).where(Institution.code == other.institution))
    walked = set()
    for endpoint, method, url in urls(app, other):
        if method != "GET":
            continue
        response = fetch(officer, method, url)
        walked.add(endpoint)
        policy = policy_of(app.view_functions[endpoint])
        if policy is not PUBLIC and Role.COUNTY not in policy:  # the province's pages (rule exceptions)
            assert response.status_code == 403, (url, response.status_code)
            continue
        if response.status_code in (302, 404):
            location = response.headers.get("Location", "")
            assert response.status_code == 404 or other.county not in location, (url, location)
            continue
        assert response.status_code == 200, (url, response.status_code)
        body = text_of(response)
        for trace in (f"/claim/{other.claim}\"", other.source_id, other.institution, other_name,
                      f"/data/batch/{other.batch}\"", f"/member/{other.member}\""):
            assert trace not in body, (url, trace)
        assert not re.search(rf"\b{other.county}\d*", body), url  # no code, id or claim number of that county
    shown = fetch(clients["auditor"], "GET", f"/claim/{other.claim}").get_data(as_text=True)  # the traces are real
    assert other.source_id in shown and other.institution in shown and f"/member/{other.member}\"" in shown
    assert {"county.show", "institution.show", "member.show", "claim.show", "data.batch", "data.source_row",
            "data.receipt", "province.index", "data.index", "reports.index", "reports.show",
            "reports.download", "findings.index", "findings.export_csv", "findings.export_xlsx",
            "findings.exceptions"} <= walked
    # ... while the same walk of their own county opens its pages: the 404s above are not for nothing
    for endpoint, method, url in urls(app, own):
        if method == "GET" and endpoint in {"county.show", "institution.show", "member.show", "claim.show",
                                            "data.batch", "data.source_row", "reports.show",
                                            "reports.download"} and "?county" not in url:
            assert fetch(officer, method, url).status_code == 200, url
    assert {"findings.show", "findings.attachment", "findings.inbox"} <= walked  # a finding, its file, the inbox
    for endpoint, method, url in urls(app, own):  # and their own county's finding and file open
        if method == "GET" and endpoint in {"findings.show", "findings.attachment"} and "?" not in url:
            assert fetch(officer, method, url).status_code == 200, url


def test_the_auditor_opens_every_page_of_either_county(walk):
    app, _, own, other, clients = walk
    for ids in (own, other):
        for endpoint, method, url in urls(app, ids):
            if method == "GET" and endpoint not in ("data.receipt", "auth.sign_in"):
                policy = policy_of(app.view_functions[endpoint])
                expected = 200 if policy is PUBLIC or Role.AUDITOR in policy else 403  # the administrator's pages
                assert fetch(clients["auditor"], method, url).status_code == expected, url


def test_the_ministry_is_refused_personal_data_and_sees_no_person(walk):
    app, engine, own, other, clients = walk
    ministry = clients["ministry"]
    with session_scope(engine) as s:
        people = set(s.scalars(select(Member.name).join(Claim, Claim.member_no == Member.member_no)
                               .join(Finding, Finding.claim_id == Claim.id)
                               .where(Member.county_code == Claim.county_code)))
        people |= set(s.scalars(select(Member.name).where(Member.id.in_([own.member, other.member]))))
    opened = set()
    for ids in (own, other):
        for endpoint, method, url in urls(app, ids):
            if method != "GET" or endpoint == "auth.sign_in":
                continue
            response = fetch(ministry, method, url)
            policy = policy_of(app.view_functions[endpoint])
            if policy is not PUBLIC and Role.MINISTRY not in policy:  # personal data; the province's own pages
                assert response.status_code == 403, (url, response.status_code)
                continue
            assert response.status_code == 200, (url, response.status_code)
            opened.add(endpoint)
            body = text_of(response)
            assert not NATIONAL_ID.search(body), (url, NATIONAL_ID.search(body).group())
            assert not MASKED_NAME.search(body), (url, MASKED_NAME.search(body).group())
            assert [name for name in people if name in body] == [], url
            assert "/claim/" not in body and "/member/" not in body, url
    assert {"province.index", "county.show", "institution.show", "data.index", "data.batch", "reports.index",
            "reports.show", "reports.download"} <= opened
    seen = clients["auditor"].get(f"/member/{other.member}?reveal=1").get_data(as_text=True)  # the checks see people
    assert NATIONAL_ID.search(seen) and [name for name in people if name in seen]
    assert MASKED_NAME.search(clients["auditor"].get(f"/claim/{other.claim}").get_data(as_text=True))


def test_anonymous_visitors_are_sent_to_sign_in(walk):
    app, _, own, other, _clients = walk
    anonymous = app.test_client()
    for ids in (own, other):
        for endpoint, method, url in urls(app, ids):
            if method != "GET":
                continue
            response = fetch(anonymous, method, url)
            if endpoint in OPEN_TO_ALL:
                assert response.status_code in (200, 503), (url, response.status_code)
            else:
                assert response.status_code == 302, (url, response.status_code)
                assert response.headers["Location"].startswith("/sign-in?next="), url
    assert policy_of(app.view_functions["auth.sign_in"]) is PUBLIC
