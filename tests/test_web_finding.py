"""A finding's page and the county's inbox through Flask's test client: the evidence and history
shown, each step of the loop taken from its form, a stale form refused with who changed the
finding (nothing written, the text typed kept), the county officer answering with a PDF and
downloading it, another county's officer refused every door (page, answer, attachment by id),
hostile files refused with the reason and nothing stored, and the download's headers."""
from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from html import unescape

import pytest
import sqlalchemy as sa

from ncms.db import session_scope
from ncms.models import Finding, FindingAttachment, FindingEvent, FindingStatus
from ncms.review import workflow
from ncms.review.calendar import WorkCalendar, local_day

from .test_review import PDF, _ids, _user, found  # noqa: F401  (the fixture: findings to review)
from .test_stake import copies  # noqa: F401
from .webauth import csrf_token, sign_in
from .webpages import province  # noqa: F401  (the fixture: a synthetic province, rules and model run)


@pytest.fixture
def web(found, settings):  # type: ignore[no-untyped-def]  # noqa: F811
    from ncms.web import create_app

    settings.ensure_dirs()
    app = create_app(replace(settings, secret_key="test"), {"TESTING": True})
    return app, found


def client(app, username: str):  # type: ignore[no-untyped-def]
    c = app.test_client()
    assert sign_in(c, username).status_code == 302
    return c


def form(c, finding_id: int, step: str, files=None, **fields):  # type: ignore[no-untyped-def]
    """Post the page's form of ``step`` as a browser would: the token and version read from the page."""
    page = c.get(f"/findings/{finding_id}").get_data(as_text=True)
    version = re.search(rf'id="form-{step}".*?name="version" value="(\d+)"', page, re.S)
    assert version, f"no {step} form on the page"
    data = {"csrf_token": csrf_token(page), "step": step, "version": version.group(1), **fields}
    if files is not None:
        data["files"] = files
    return c.post(f"/findings/{finding_id}", data=data, content_type="multipart/form-data")


def state(engine, finding_id: int) -> Finding:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        finding = s.get(Finding, finding_id)
        s.expunge(finding)
        return finding


def events(engine, finding_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return [k.value for k in s.scalars(sa.select(FindingEvent.kind).where(FindingEvent.finding_id == finding_id)
                                           .order_by(FindingEvent.id))]


def text(response) -> str:  # type: ignore[no-untyped-def]
    return unescape(response.get_data(as_text=True))


def pdf_file(name: str = "说明.pdf", data: bytes = PDF):  # type: ignore[no-untyped-def]
    import io

    return (io.BytesIO(data), name, "application/pdf")


def push(engine, finding_id: int, due: date | None = None) -> None:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        workflow.push(s, _user(s, "auditor"), [finding_id], WorkCalendar(), "explain", due_on=due)


def test_the_page_shows_the_rule_the_evidence_linked_and_the_history(web):
    app, engine = web
    with session_scope(engine) as s:
        finding = s.scalar(sa.select(Finding).where(Finding.rule_code == "duplicate_claim"))
        target, other = finding.id, finding.evidence["first_claim"].split(":")[1]
        own_claim = finding.claim_id
        from ncms.models import Claim
        other_id = s.scalar(sa.select(Claim.id).where(Claim.county_code == finding.county_code,
                                                      Claim.source_id == other))
    auditor = client(app, "auditor")
    page = text(auditor.get(f"/findings/{target}"))
    assert "重复报销" in page and "duplicate_claim" in page  # the rule's name, in Chinese by default
    assert f'href="/claim/{own_claim}"' in page and f'href="/claim/{other_id}"' in page  # both claims linked
    assert re.search(r'<td class="mark">', page) and re.search(r'class="num mark">', page)  # what the rule compared
    assert re.search(r"[\u4e00-\u9fff]\*+", page)  # the member masked
    assert 'id="finding-history"' in page and 'data-kind="raised"' in page
    assert 'id="form-push"' in page and 'id="form-answer"' not in page  # the auditor's forms, not the county's
    english = text(auditor.get(f"/findings/{target}?lang=en"))
    assert "Duplicate claim" in english and "Due back on" in english
    officer = client(app, "officer")  # the finding's county's officer: its page, no step until pushed
    body = text(officer.get(f"/findings/{target}"))
    assert 'id="no-steps"' in body and 'id="form-push"' not in body
    assert client(app, "ministry").get(f"/findings/{target}").status_code == 403


def test_the_loop_from_the_forms_answer_with_a_pdf_and_download_it(web, settings):
    app, engine = web
    with session_scope(engine) as s:
        target = _ids(s, "overpayment")[0]
    auditor, officer = client(app, "auditor"), client(app, "officer")
    with session_scope(engine) as s:
        auditor_id = _user(s, "auditor").id
    assert form(auditor, target, "assign", assignee=str(auditor_id)).status_code == 302
    assert state(engine, target).assignee_id == auditor_id
    due = (date.today() + timedelta(days=30)).isoformat()
    done = form(auditor, target, "push", note="please explain", due_on=due)
    assert done.status_code == 302 and 'class="flash success"' in text(auditor.get(done.headers["Location"]))
    pushed = state(engine, target)
    assert (pushed.status, pushed.due_on.isoformat()) == (FindingStatus.SENT_TO_COUNTY, due)

    inbox = text(officer.get("/inbox/"))
    assert f'href="/findings/{target}"' in inbox and 'id="inbox-waiting"' in inbox
    assert form(officer, target, "answer", kind="appeal", text="the ward charged the old rate",
                files=[pdf_file()]).status_code == 302
    assert state(engine, target).status is FindingStatus.COUNTY_RESPONDED
    page = text(officer.get(f"/findings/{target}"))
    link = re.search(r'href="(/findings/attachment/(\d+))"[^>]*>说明.pdf<', page)
    assert link, "the file is listed in the history"
    download = officer.get(link.group(1))
    assert download.status_code == 200 and download.data == PDF
    assert download.headers["Content-Type"] == "application/pdf"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''%E8%AF%B4%E6%98%8E.pdf" in download.headers["Content-Disposition"]
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert auditor.get(link.group(1)).data == PDF

    assert form(auditor, target, "send_back", text="attach the price list").status_code == 302
    assert state(engine, target).send_backs == 1
    assert form(officer, target, "answer", kind="explanation", text="price list attached").status_code == 302
    page = text(auditor.get(f"/findings/{target}"))
    assert 'id="form-send_back"' not in page  # once only
    assert form(auditor, target, "determine", amount="175.00", text="paid above the scheme").status_code == 302
    assert form(auditor, target, "recover", amount="100.00", text="first instalment").status_code == 302
    over = form(auditor, target, "recover", amount="80.00")
    assert over.status_code == 400 and "超过尚待追回的 75.00 元" in text(over)
    assert 'value="80.00"' in text(over)  # the amount typed kept
    done = state(engine, target)
    assert (done.status, done.amount_to_recover, done.amount_recovered) == (
        FindingStatus.CONFIRMED, Decimal("175.00"), Decimal("100.00"))
    page = text(auditor.get(f"/findings/{target}"))
    assert re.search(r'id="finding-remaining">[^<]*75\.00', page)
    assert form(auditor, target, "comment", text="the county agreed to pay by March").status_code == 302
    assert form(auditor, target, "reopen", text="new evidence").status_code == 302
    assert state(engine, target).status is FindingStatus.OPEN
    assert form(auditor, target, "dismiss", text="accepted practice").status_code == 302
    assert events(engine, target) == ["raised", "assigned", "pushed", "county_response", "sent_back",
                                      "county_response", "determined", "recovered", "comment", "reopened",
                                      "dismissed"]
    with session_scope(engine) as s:  # the dashboard's summary counts the decision
        from ncms.models import FindingMonth

        assert s.scalar(sa.select(sa.func.sum(FindingMonth.dismissed)).where(
            FindingMonth.rule_code == "overpayment")) >= 1


def test_a_stale_form_says_who_changed_the_finding_and_changes_nothing(web):
    app, engine = web
    with session_scope(engine) as s:
        target = _ids(s, "overpayment")[0]
    auditor = client(app, "auditor")
    page = auditor.get(f"/findings/{target}").get_data(as_text=True)
    version = re.search(r'id="form-dismiss".*?name="version" value="(\d+)"', page, re.S).group(1)
    push(engine, target)  # someone else, meanwhile
    before = events(engine, target)
    stale = auditor.post(f"/findings/{target}", data={"csrf_token": csrf_token(page), "step": "dismiss",
                                                      "version": version, "text": "looks fine to me"})
    body = text(stale)
    assert stale.status_code == 409 and 'id="finding-conflict"' in body
    assert "已由 auditor 于" in body and "推送至县，现为“已下发县”" in body  # in the page's language
    assert events(engine, target) == before and state(engine, target).status is FindingStatus.SENT_TO_COUNTY
    assert 'class="tag status-sent_to_county"' in body and 'id="form-push"' not in body  # the fresh state shown
    assert 'id="form-dismiss"' in body and "looks fine to me" in body  # the text typed kept


def test_another_countys_officer_finds_nothing_of_it(web, settings):
    app, engine = web
    with session_scope(engine) as s:
        target = _ids(s, "overpayment")[0]
    push(engine, target)
    officer = client(app, "officer")
    assert form(officer, target, "answer", kind="explanation", text="see the file",
                files=[pdf_file("scan.pdf")]).status_code == 302
    with session_scope(engine) as s:
        attachment = s.scalar(sa.select(FindingAttachment.id).where(FindingAttachment.finding_id == target))
    other = client(app, "other")
    assert other.get(f"/findings/{target}").status_code == 404
    token = csrf_token(other.get("/inbox/").get_data(as_text=True))
    answered = other.post(f"/findings/{target}", data={"csrf_token": token, "step": "comment", "version": "1",
                                                       "text": "ours?"})
    assert answered.status_code == 404
    assert other.get(f"/findings/attachment/{attachment}").status_code == 404
    assert other.get(f"/findings/attachment/{attachment + 1000}").status_code == 404
    assert f"/findings/{target}" not in other.get("/inbox/").get_data(as_text=True)
    assert events(engine, target)[-1] == "county_response"  # the comment was not written
    assert client(app, "ministry").get(f"/findings/attachment/{attachment}").status_code == 403


@pytest.mark.parametrize("name, data, reason", [
    ("scan.pdf", b"MZ\x90\x00 a program", "内容却是可执行程序"),  # the page's language: Chinese
    ("bundle.zip", b"PK\x05\x06" + b"\x00" * 18, "不接受此类文件"),
    ("说明.pdf", b"PK\x05\x06" + b"\x00" * 18, "内容却是压缩包"),
    ("../../etc/说明.pdf", PDF, "文件名不能包含路径"),
    ("big.pdf", PDF + b"0" * (10 * 2**20), "超过单个文件 10 MiB 的上限"),
])
def test_hostile_files_are_refused_with_the_reason_and_nothing_kept(web, settings, name, data, reason):
    app, engine = web
    with session_scope(engine) as s:
        target = _ids(s, "overpayment")[0]
    push(engine, target)
    officer = client(app, "officer")
    refused = form(officer, target, "answer", kind="explanation", text="see the files",
                   files=[pdf_file(), pdf_file(name, data)])
    body = text(refused)
    assert refused.status_code == 400 and reason in body and 'id="error-answer"' in body
    assert "see the files" in body  # the answer typed kept
    assert state(engine, target).status is FindingStatus.SENT_TO_COUNTY
    with session_scope(engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(FindingAttachment)) == 0
    assert not (settings.data_dir / "attachments").exists() or not any((settings.data_dir / "attachments").rglob("*"))


def test_a_request_above_the_limit_is_told_in_words(web):
    app, engine = web
    assert app.config["MAX_CONTENT_LENGTH"] >= 10 * 10 * 2**20
    app.config["MAX_CONTENT_LENGTH"] = 2**20  # a small limit, not to send 100 MiB
    with session_scope(engine) as s:
        target = _ids(s, "overpayment")[0]
    push(engine, target)
    officer = client(app, "officer")
    response = form(officer, target, "answer", kind="explanation", text="x", files=[pdf_file("big.pdf", PDF * 40_000)])
    assert response.status_code == 413 and "未保存任何内容" in text(response)  # said in words, in Chinese
    assert state(engine, target).status is FindingStatus.SENT_TO_COUNTY


def test_the_inbox_lists_the_countys_pushed_findings_overdue_first(web):
    app, engine = web
    with session_scope(engine) as s:
        first, second = _ids(s, "duplicate_claim")[:2]
        workflow.push(s, _user(s, "auditor"), [first], WorkCalendar(), due_on=local_day() + timedelta(days=3))
    push(engine, second, local_day() + timedelta(days=1))
    with session_scope(engine) as s:  # the second's deadline passed
        s.execute(sa.update(Finding).where(Finding.id == second).values(due_on=local_day() - timedelta(days=2)))
    page = text(client(app, "officer").get("/inbox/"))
    waiting = page.split('id="inbox-waiting"')[1].split("</table>")[0]
    assert waiting.index(f'data-finding="{second}"') < waiting.index(f'data-finding="{first}"')
    assert re.search(r'id="inbox-overdue" class="bad">1<', page)
    assert 'href="/inbox/"' in page  # in the county officer's menu
    auditor = text(client(app, "auditor").get("/inbox/"))
    assert f'data-finding="{second}"' in auditor and 'href="/inbox/"' not in auditor  # not in the province's menu
    assert client(app, "other").get("/inbox/").get_data(as_text=True).count("data-finding=") == 0
    assert client(app, "ministry").get("/inbox/").status_code == 403


def test_the_models_finding_shows_its_explanation_its_claims_and_peer_charts(province):  # noqa: F811
    from ncms.monitor.anomaly import MODEL

    from .webauth import OTHER_COUNTY
    from .webpages import client_of

    engine, app = province
    with session_scope(engine) as s:
        finding = s.scalar(sa.select(Finding).where(Finding.rule_code == MODEL.code,
                                                    Finding.county_code == OTHER_COUNTY).order_by(Finding.id).limit(1))
        assert finding is not None, "the synthetic province has the model's findings"
        features = [reason["feature"] for reason in finding.evidence["features"]]
        listed = len(finding.evidence.get("claims") or [])
    page = text(client_of(app, "auditor").get(f"/findings/{finding.id}"))
    assert 'id="finding-explanation"' in page and all(f'data-feature="{name}"' in page for name in features)
    assert 1 <= page.count('data-chart="') <= len(features)  # each explaining feature against its peers
    assert page.count('data-claim="') == listed and "echarts.min.js" in page
    assert client_of(app, "officer").get(f"/findings/{finding.id}").status_code == 404  # another county's


def test_an_overdue_finding_that_stopped_holding_says_both(web):
    from ncms.models.base import utcnow

    app, engine = web
    with session_scope(engine) as s:
        target = _ids(s, "overpayment")[0]
    push(engine, target)
    with session_scope(engine) as s:  # its deadline passed, and a rerun found it no longer holds
        s.execute(sa.update(Finding).where(Finding.id == target).values(
            due_on=date.today() - timedelta(days=1), stopped_holding_at=utcnow()))
    page = text(client(app, "auditor").get(f"/findings/{target}"))
    assert 'id="stopped-holding"' in page
    assert re.search(r'id="finding-due">[^<]*<span class="tag overdue">', page)
    assert 'id="form-determine"' in page  # past its deadline without an answer: the auditor may determine
    assert 'id="form-answer"' in text(client(app, "officer").get(f"/findings/{target}"))  # the county still may answer
