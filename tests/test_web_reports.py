"""The console's reports pages on SQLite and PostgreSQL: who sees which report (a county officer
only their county's; the province's and other counties' are not found), downloads, a correction
and what it supersedes, failed sends to the ministry shown with their error and next try, and an
auditor building a report through the ``ncms.reports`` entry point (the core imports no
``reports``); nobody else may."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from ncms.db import session_scope
from ncms.models import AuditLog, ReportRun, ReportStatus
from ncms.models.report import ReportSend, SendOutcome
from reports.content import build_content
from reports.registry import recording
from reports.statistics import write_statistics

from .webauth import COUNTY, OTHER_COUNTY, add_accounts, csrf_token, sign_in

WHEN = datetime(2011, 7, 10, 2, 0, tzinfo=timezone.utc)


def make_run(engine, settings, county=None, period="2011-Q2", lang="zh") -> int:  # type: ignore[no-untyped-def]
    """A built revision (statistics and a stand-in PDF, no WeasyPrint) of a quarterly report."""
    with recording(engine, settings, "quarterly", period, county, lang, requested_by="auditor") as draft:
        (draft.folder / f"ncms-{county or '520000'}-quarterly-{period}-{lang}.pdf").write_bytes(b"%PDF-1.7 test")
        with session_scope(engine) as s:
            content = build_content(s, "quarterly", period, county)
        write_statistics(content, draft.folder, revision=draft.revision, lang=lang, supersedes=draft.supersedes)
    return draft.run_id


@pytest.fixture
def reports(app, loaded_engine, settings):  # type: ignore[no-untyped-def]
    add_accounts(loaded_engine)
    settings = app.config["NCMS_SETTINGS"]
    runs = {"province": make_run(loaded_engine, settings), "own": make_run(loaded_engine, settings, COUNTY),
            "other": make_run(loaded_engine, settings, OTHER_COUNTY)}
    runs["correction"] = make_run(loaded_engine, settings)
    return loaded_engine, settings, runs


def signed_in_as(app, name: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert sign_in(client, name).status_code == 302
    return client


def test_who_sees_which_report(app, reports) -> None:  # type: ignore[no-untyped-def]
    engine, settings, runs = reports
    for name in ("auditor", "admin", "ministry"):
        client = signed_in_as(app, name)
        page = client.get("/reports/").get_data(as_text=True)
        for run_id in runs.values():
            assert f'data-run="{run_id}"' in page, (name, run_id)
            assert client.get(f"/reports/{run_id}").status_code == 200
    officer = signed_in_as(app, "officer")
    page = officer.get("/reports/").get_data(as_text=True)
    assert f'data-run="{runs["own"]}"' in page
    for hidden in ("province", "other", "correction"):
        assert f'data-run="{runs[hidden]}"' not in page
        assert officer.get(f"/reports/{runs[hidden]}").status_code == 404  # not found, never forbidden
    assert "build-form" not in page and officer.get(f"/reports/{runs['own']}").status_code == 200
    assert "build-form" not in signed_in_as(app, "ministry").get("/reports/").get_data(as_text=True)
    assert "build-form" in signed_in_as(app, "auditor").get("/reports/").get_data(as_text=True)


def test_a_report_and_its_package_download_for_whoever_may_see_it(app, reports) -> None:  # type: ignore[no-untyped-def]
    engine, settings, runs = reports
    with session_scope(engine) as s:
        own, other = s.get(ReportRun, runs["own"]), s.get(ReportRun, runs["other"])
    folder = settings.reports_dir / own.folder
    pdf = next(n for n in own.outputs if n.endswith(".pdf"))
    officer = signed_in_as(app, "officer")
    got = officer.get(f"/reports/{own.id}/files/{own.package}")
    assert got.status_code == 200 and got.data == (folder / own.package).read_bytes()
    assert got.headers["Content-Type"] == "application/zip" and "attachment" in got.headers["Content-Disposition"]
    shown = officer.get(f"/reports/{own.id}/files/{pdf}")
    assert shown.status_code == 200 and shown.data == b"%PDF-1.7 test" and shown.mimetype == "application/pdf"
    assert officer.get(f"/reports/{other.id}/files/{other.package}").status_code == 404
    ministry = signed_in_as(app, "ministry")
    csv = ministry.get(f"/reports/{other.id}/files/claims_by_level.csv")
    assert csv.status_code == 200 and csv.data.startswith(b"level,stays,")
    for name in ("../../ncms.db", "secret_key", "nothing.csv", ".hidden"):  # only the files the run lists
        assert ministry.get(f"/reports/{other.id}/files/{name}").status_code == 404


def test_a_correction_and_what_it_supersedes(app, reports) -> None:  # type: ignore[no-untyped-def]
    engine, settings, runs = reports
    auditor = signed_in_as(app, "auditor")
    new = auditor.get(f"/reports/{runs['correction']}?lang=en").get_data(as_text=True)
    assert f'href="/reports/{runs["province"]}">r1</a>' in new and "revision 2" in new and "supersedes" in new
    old = auditor.get(f"/reports/{runs['province']}?lang=en").get_data(as_text=True)
    assert "superseded by" in old and f'href="/reports/{runs["correction"]}">r2</a>' in old
    listing = auditor.get("/reports/?lang=en").get_data(as_text=True)
    assert "superseded by r2" in listing


def test_failed_sends_are_shown_with_their_error_and_next_try(app, reports) -> None:  # type: ignore[no-untyped-def]
    engine, settings, runs = reports
    with session_scope(engine) as s:
        run = s.get(ReportRun, runs["correction"])
        for attempt, outcome, error in ((1, SendOutcome.FAILED, "TransferError: push x: gave up after 5 attempt(s)"),
                                        (2, SendOutcome.FAILED, "TransferError: host key of [sftp]:22 differs")):
            s.add(ReportSend(run_id=run.id, attempt=attempt, endpoint="p@sftp:22/inbox", remote_path="inbox/x.zip",
                             sha256=run.package_sha256, outcome=outcome, started_at=WHEN, finished_at=WHEN,
                             bytes_sent=0, resumed_from=0, connections=5, error=error,
                             retry_at=WHEN + timedelta(minutes=10 * attempt)))
        done = s.get(ReportRun, runs["province"])
        s.add(ReportSend(run_id=done.id, attempt=1, endpoint="p@sftp:22/inbox", remote_path="inbox/y.zip",
                         sha256=done.package_sha256, verified_sha256=done.package_sha256, outcome=SendOutcome.SENT,
                         started_at=WHEN, finished_at=WHEN, bytes_sent=done.package_bytes, resumed_from=0,
                         connections=1))
    for name in ("auditor", "ministry"):
        page = signed_in_as(app, name).get("/reports/?lang=en").get_data(as_text=True)
        failures = page.split('id="report-failures"')[1].split("</table>")[0]
        assert "host key of [sftp]:22 differs" in failures and "gave up" not in failures  # the latest failure
        assert f'data-run="{runs["correction"]}"' in failures and f'data-run="{runs["province"]}"' not in failures
    shown = signed_in_as(app, "auditor").get(f"/reports/{runs['correction']}?lang=en").get_data(as_text=True)
    assert shown.count('data-send="') == 2 and "gave up after 5 attempt(s)" in shown and "tried again from" in shown
    sent = signed_in_as(app, "auditor").get(f"/reports/{runs['province']}?lang=en").get_data(as_text=True)
    assert "sent, checksum verified" in sent and '<span class="ok">✓</span>' in sent
    assert 'id="report-failures"' not in signed_in_as(app, "officer").get("/reports/").get_data(as_text=True)


def _post_build(client, **fields):  # type: ignore[no-untyped-def]
    token = csrf_token(client.get("/reports/").get_data(as_text=True))
    return client.post("/reports/build", data={"csrf_token": token, "kind": "quarterly", "period": "2011-Q2",
                                               "county": "", "lang": "zh", **fields})


def test_an_auditor_builds_a_report_through_the_entry_point(app, reports) -> None:  # type: ignore[no-untyped-def]
    engine, settings, runs = reports
    auditor = signed_in_as(app, "auditor")
    done = _post_build(auditor, county=COUNTY, lang="en")
    assert done.status_code == 302 and "/reports/" in done.headers["Location"]
    with session_scope(engine) as s:
        run = s.scalar(select(ReportRun).order_by(ReportRun.id.desc()).limit(1))
        assert (run.county_code, run.lang, run.status, run.requested_by) == (COUNTY, "en", ReportStatus.DONE, "auditor")
        assert any(n.endswith(".pdf") for n in run.outputs)  # the real build: WeasyPrint's PDF
        assert s.scalar(select(AuditLog).where(AuditLog.action == "report.build")).target == f"report_run:{run.id}"
    page = auditor.get(done.headers["Location"]).get_data(as_text=True)
    assert "2011-Q2" in page and 'id="report-files"' in page

    wrong = _post_build(auditor, kind="annual", period="2011-Q2")  # a quarter for an annual report
    assert wrong.status_code == 302
    assert "2011-Q2" in auditor.get("/reports/").get_data(as_text=True).split('class="flash error"')[1]
    with session_scope(engine) as s:
        assert s.scalar(select(ReportRun).order_by(ReportRun.id.desc()).limit(1)).id == run.id
    for name in ("officer", "ministry"):
        client = signed_in_as(app, name)
        token = csrf_token(client.get("/reports/").get_data(as_text=True))
        assert client.post("/reports/build", data={"csrf_token": token, "kind": "quarterly",
                                                   "period": "2011-Q2"}).status_code == 403


def test_without_the_reports_package_the_console_says_it_cannot_build(app, reports) -> None:  # type: ignore[no-untyped-def]
    from ncms.web.reports import builder

    app.config["REPORT_BUILDER"] = None
    original = builder._installed
    builder._installed = lambda: None  # type: ignore[assignment]
    try:
        page = signed_in_as(app, "auditor").get("/reports/?lang=en").get_data(as_text=True)
        assert "the reports package is not installed" in page and 'id="build-form"' not in page
    finally:
        builder._installed = original  # type: ignore[assignment]


def test_one_countys_reports_and_another_countys_code_not_found(app, reports) -> None:  # type: ignore[no-untyped-def]
    engine, settings, runs = reports
    page = signed_in_as(app, "auditor").get(f"/reports/?county={OTHER_COUNTY}").get_data(as_text=True)
    assert f'data-run="{runs["other"]}"' in page and f'data-run="{runs["own"]}"' not in page
    assert f'data-run="{runs["province"]}"' not in page
    assert signed_in_as(app, "officer").get(f"/reports/?county={OTHER_COUNTY}").status_code == 404
