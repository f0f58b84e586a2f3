"""The review loop on real findings: push with a working-day deadline, the county's answer with
its files, one send-back, determination and recovery, bulk steps that report what they left,
two auditors on one finding, and rule exceptions honoured by the next run (docs/review.md)."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ncms.accounts import create_user
from ncms.db import session_scope
from ncms.models import (
    ExceptionSubject,
    Finding,
    FindingAttachment,
    FindingEvent,
    FindingEventKind,
    FindingStatus,
    Role,
    RuleRun,
    User,
)
from ncms.monitor import run_monitor
from ncms.review import attachments, exceptions, workflow
from ncms.review.attachments import Upload
from ncms.review.calendar import WorkCalendar, read_calendar
from ncms.review.workflow import Conflict, NotFound, ReviewError

from .packages import COUNTY, HOSPITAL
from .test_stake import copies  # noqa: F401  (the fixture: findings to review)
from .webauth import OTHER_COUNTY, add_accounts

PUSHED = datetime(2026, 9, 28, 9, 0, tzinfo=timezone.utc)  # a Monday before the National Day week
CALENDAR = WorkCalendar(holidays=frozenset(date(2026, 10, d) for d in range(1, 8)) - {date(2026, 10, 3),
                                                                                      date(2026, 10, 4)},
                        workdays=frozenset({date(2026, 10, 10)}), response_working_days=5)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


@pytest.fixture
def found(copies, settings):  # type: ignore[no-untyped-def]  # noqa: F811
    run_monitor(copies, settings, counties=[COUNTY])
    add_accounts(copies)
    with session_scope(copies) as s:
        s.add(User(username="other", role=Role.COUNTY, county_code=OTHER_COUNTY,
                   password_hash=s.scalar(sa.select(User.password_hash).where(User.username == "officer"))))
    return copies


def _user(s, name: str) -> User:  # type: ignore[no-untyped-def]
    return s.scalar(sa.select(User).where(User.username == name))


def _ids(s, rule: str) -> list[int]:  # type: ignore[no-untyped-def]
    return list(s.scalars(sa.select(Finding.id).where(Finding.rule_code == rule).order_by(Finding.id)))


def _finding(engine, finding_id: int) -> Finding:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        finding = s.get(Finding, finding_id)
        s.expunge(finding)
        return finding


def _kinds(engine, finding_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return [k.value for k in s.scalars(sa.select(FindingEvent.kind).where(FindingEvent.finding_id == finding_id)
                                           .order_by(FindingEvent.id))]


def test_the_deadline_counts_working_days_past_holidays_and_makeup_days(tmp_path) -> None:
    # Mon 28 Sep, 5 working days: 29, 30 Sep, then 1-7 Oct off but for the weekend 3-4 Oct (off
    # anyway), 8, 9 Oct, and Saturday 10 Oct worked instead (调休)
    assert CALENDAR.deadline(PUSHED.date()) == date(2026, 10, 10)
    assert CALENDAR.working_days_between(date(2026, 9, 28), date(2026, 10, 10)) == 5
    assert CALENDAR.working_days_between(date(2026, 10, 10), date(2026, 9, 28)) == -5
    assert WorkCalendar().deadline(date(2026, 12, 4)) == date(2026, 12, 25)  # a Friday, 15 weekdays on
    (tmp_path / "calendar.yaml").write_text("response_working_days: 10\nholidays: [2027-01-01]\n"
                                            "workdays:\n  - 2027-01-04\n  - not a day\n")
    with pytest.raises(Exception, match=r"calendar.yaml.*workdays\[1\].*not a day"):
        read_calendar(tmp_path)
    (tmp_path / "calendar.yaml").write_text("response_working_days: 10\nholidays: [2027-01-01]\n")
    read = read_calendar(tmp_path)
    assert read.response_working_days == 10 and not read.is_working_day(date(2027, 1, 1))


def test_the_shipped_calendar_reads(settings) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    shipped = read_calendar(Path(__file__).resolve().parents[1] / "config")
    assert shipped.response_working_days == 15
    assert not shipped.is_working_day(date(2026, 10, 1)) and date(2026, 1, 1) in shipped.holidays


def test_the_whole_loop_push_answer_send_back_determine_recover(found, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = found
    with session_scope(engine) as s:
        auditor, target = _user(s, "auditor"), _ids(s, "overpayment")[0]
        done = workflow.push(s, auditor, [target], CALENDAR, "please explain the overpayment", now=PUSHED)
        assert done.done == [target] and not done.skipped
    pushed = _finding(engine, target)
    assert (pushed.status, pushed.due_on, pushed.pushed_at) == (FindingStatus.SENT_TO_COUNTY, date(2026, 10, 10), PUSHED)
    with session_scope(engine) as s:  # not before the deadline, nor without an answer
        with pytest.raises(ReviewError, match="can be determined only when it is county_responded"):
            workflow.determine(s, _user(s, "auditor"), target, "175.00", "overpaid",
                               now=datetime(2026, 10, 9, tzinfo=timezone.utc))
    with session_scope(engine) as s:  # the other county's officer: not found, as on the pages
        with pytest.raises(NotFound):
            workflow.answer(s, _user(s, "other"), target, "not ours", "explanation", data_dir=tmp_path)
    with session_scope(engine) as s:  # a hostile file: nothing written, the answer neither
        with pytest.raises(ReviewError, match="content is a program"):
            workflow.answer(s, _user(s, "officer"), target, "see the file", "appeal", data_dir=tmp_path,
                            attachments=[Upload("说明.pdf", PDF), Upload("scan.pdf", b"MZ\x90\x00 payload")])
    assert _finding(engine, target).status is FindingStatus.SENT_TO_COUNTY
    assert not (tmp_path / "attachments").exists()
    with session_scope(engine) as s:
        workflow.answer(s, _user(s, "officer"), target, "the ward charged the old rate", "appeal",
                        attachments=[Upload("说明.pdf", PDF)], data_dir=tmp_path)
    with session_scope(engine) as s:
        row = s.scalar(sa.select(FindingAttachment).where(FindingAttachment.finding_id == target))
        assert (row.file_name, row.media_type, row.size) == ("说明.pdf", "application/pdf", len(PDF))
        assert attachments.read(tmp_path, row) == PDF
        with pytest.raises(ReviewError, match="only the county"):
            workflow.answer(s, _user(s, "auditor"), target, "x", "explanation", data_dir=tmp_path)
    with session_scope(engine) as s:
        workflow.send_back(s, _user(s, "auditor"), target, "attach the ward's price list", CALENDAR,
                           now=datetime(2026, 10, 12, tzinfo=timezone.utc))
    back = _finding(engine, target)
    assert (back.status, back.send_backs, back.due_on) == (FindingStatus.SENT_TO_COUNTY, 1, date(2026, 10, 19))
    with session_scope(engine) as s:
        workflow.answer(s, _user(s, "officer"), target, "price list attached", "explanation", data_dir=tmp_path)
    with session_scope(engine) as s:  # once only
        with pytest.raises(ReviewError, match="sent back 1 time"):
            workflow.send_back(s, _user(s, "auditor"), target, "again", CALENDAR)
        workflow.determine(s, _user(s, "auditor"), target, "175.00", "paid above the scheme")
    with session_scope(engine) as s:
        workflow.recover(s, _user(s, "auditor"), target, "100.00", "first instalment")
    with session_scope(engine) as s:
        with pytest.raises(ReviewError, match="more than the 75.00 yuan still to recover"):
            workflow.recover(s, _user(s, "auditor"), target, "75.01")
        with pytest.raises(ReviewError, match="more than zero"):
            workflow.recover(s, _user(s, "auditor"), target, "-5")
        workflow.recover(s, _user(s, "auditor"), target, "75.00")
    done = _finding(engine, target)
    assert (done.status, done.amount_to_recover, done.amount_recovered) == (
        FindingStatus.CONFIRMED, Decimal("175.00"), Decimal("175.00"))
    assert _kinds(engine, target) == ["raised", "pushed", "county_response", "sent_back", "county_response",
                                      "determined", "recovered", "recovered"]
    with session_scope(engine) as s:
        workflow.reopen(s, _user(s, "auditor"), target, "the county found more claims")
    reopened = _finding(engine, target)
    assert (reopened.status, reopened.decided_at, reopened.amount_recovered) == (
        FindingStatus.OPEN, None, Decimal("175.00"))


def test_determined_once_the_deadline_passed_without_an_answer(found) -> None:  # type: ignore[no-untyped-def]
    with session_scope(found) as s:
        target = _ids(s, "overpayment")[0]
        workflow.push(s, _user(s, "auditor"), [target], CALENDAR, now=PUSHED)
    with session_scope(found) as s:
        workflow.determine(s, _user(s, "auditor"), target, "0", "no answer in time; nothing to recover",
                           today=date(2026, 10, 11))
    assert _finding(found, target).status is FindingStatus.CONFIRMED


def test_bulk_steps_take_what_they_may_and_say_why_not_the_rest(found) -> None:  # type: ignore[no-untyped-def]
    with session_scope(found) as s:
        auditor = _user(s, "auditor")
        duplicates, overpaid = _ids(s, "duplicate_claim"), _ids(s, "overpayment")
        pushed = workflow.push(s, auditor, overpaid, CALENDAR, now=PUSHED)
        assert pushed.done == overpaid
        outcome = workflow.push(s, auditor, duplicates + overpaid + [10**9], CALENDAR, now=PUSHED)
        assert outcome.done == duplicates
        assert outcome.skipped[overpaid[0]].startswith("sent_to_county: only open")
        assert outcome.skipped[overpaid[0]].zh == "“已下发县”：只有“待处理”的疑点可以推送至县"  # the console's language
        assert outcome.skipped[10**9] == "not found"
        gone = workflow.dismiss(s, auditor, duplicates, "copies corrected by the county")
        assert gone.done == duplicates
        assigned = workflow.assign(s, auditor, overpaid + duplicates, _user(s, "admin"))
        assert assigned.done == overpaid and set(assigned.skipped) == set(duplicates)
        with pytest.raises(ReviewError, match="not an active auditor"):
            workflow.assign(s, auditor, overpaid, _user(s, "officer"))
        with pytest.raises(ReviewError, match="only a provincial auditor"):
            workflow.push(s, _user(s, "officer"), duplicates, CALENDAR)
        with pytest.raises(ReviewError, match="reason to dismiss is required"):
            workflow.dismiss(s, auditor, overpaid, "  ")
    with session_scope(found) as s:
        statuses = dict(s.execute(sa.select(Finding.id, Finding.status).where(Finding.id.in_(duplicates))).all())
        assert set(statuses.values()) == {FindingStatus.DISMISSED}
        events = s.scalars(sa.select(FindingEvent).where(FindingEvent.finding_id == overpaid[0],
                                                         FindingEvent.kind == FindingEventKind.ASSIGNED)).all()
        assert [e.assignee_id for e in events] == [_user(s, "admin").id]
        assert s.get(Finding, overpaid[0]).assignee_id == _user(s, "admin").id


def test_two_auditors_on_one_finding_the_second_is_told_who_changed_it(found) -> None:  # type: ignore[no-untyped-def]
    with session_scope(found) as s:
        target = _ids(s, "overpayment")[0]
        read = s.get(Finding, target).version
        admin = create_user(s, "second", Role.AUDITOR, "another long password")
    with session_scope(found) as s:  # the first saves
        workflow.push(s, _user(s, "auditor"), [target], CALENDAR, version=read, now=PUSHED)
    with session_scope(found) as s:  # the second, from the page it read before
        with pytest.raises(Conflict, match=r"changed by auditor at 2026-09-28 09:00 UTC \(pushed; now sent_to_county\)"
                           ) as refused:
            workflow.dismiss(s, _user(s, "second"), [target], "looks fine", version=read)
    assert "已由 auditor 于 2026-09-28 17:00（北京时间）推送至县，现为“已下发县”" in refused.value.zh
    assert admin.username == "second"
    assert _kinds(found, target) == ["raised", "pushed"]  # nothing of the second written
    assert _finding(found, target).status is FindingStatus.SENT_TO_COUNTY


def test_a_rerun_marks_a_pushed_finding_that_stopped_holding_and_honours_exceptions(found, settings) -> None:  # type: ignore[no-untyped-def]
    with session_scope(found) as s:
        auditor = _user(s, "auditor")
        priced = _ids(s, "over_standard_price")  # S1 and S2: amoxicillin D0001 above its price
        duplicates = _ids(s, "duplicate_claim")
        workflow.push(s, auditor, priced, CALENDAR, now=PUSHED)
        made = exceptions.make(s, auditor, "over_standard_price", ExceptionSubject.ITEM, "D0001",
                               date(2027, 6, 30), "the province's 2011 price list allows 9.00",
                               county_code=COUNTY, finding=s.get(Finding, priced[0]), today=date(2026, 12, 6))
        hospital = exceptions.make(s, auditor, "duplicate_claim", "institution", HOSPITAL, date(2027, 6, 30),
                                   "resubmissions agreed with the county", today=date(2026, 12, 6))
        with pytest.raises(ReviewError, match="no institution NOPE"):
            exceptions.make(s, auditor, "duplicate_claim", "institution", "NOPE", date(2027, 6, 30), "x",
                            today=date(2026, 12, 6))
        with pytest.raises(ReviewError, match="after today"):
            exceptions.make(s, auditor, "duplicate_claim", "item", "D0001", date(2026, 12, 6), "x",
                            today=date(2026, 12, 6))
        made_id, hospital_id = made.id, hospital.id
    run_monitor(found, settings, counties=[COUNTY], rules=["over_standard_price", "duplicate_claim"])
    with session_scope(found) as s:
        for finding in s.scalars(sa.select(Finding).where(Finding.id.in_(priced))):
            assert finding.status is FindingStatus.SENT_TO_COUNTY and finding.stopped_holding_at is not None
        for finding in s.scalars(sa.select(Finding).where(Finding.id.in_(duplicates))):
            assert finding.status is FindingStatus.CLOSED
            assert finding.closed_reason == f"passed over by rule exception {hospital_id}"
        runs = dict(s.execute(sa.select(RuleRun.rule_code, RuleRun.excepted).order_by(RuleRun.id)).all())
        runs = {rule: n for rule, n in runs.items() if rule in ("over_standard_price", "duplicate_claim")}
        assert runs == {"over_standard_price": 2, "duplicate_claim": 2}
    assert _kinds(found, priced[0])[-1] == "updated"
    with session_scope(found) as s:  # revoked: the findings hold again
        exceptions.revoke(s, _user(s, "auditor"), made_id, "price list withdrawn")
        exceptions.revoke(s, _user(s, "auditor"), hospital_id, "agreement ended")
        with pytest.raises(ReviewError, match="revoked already"):
            exceptions.revoke(s, _user(s, "auditor"), made_id, "again")
    run_monitor(found, settings, counties=[COUNTY], rules=["over_standard_price", "duplicate_claim"])
    with session_scope(found) as s:
        for finding in s.scalars(sa.select(Finding).where(Finding.id.in_(priced))):
            assert finding.status is FindingStatus.SENT_TO_COUNTY and finding.stopped_holding_at is None
        assert {f.status for f in s.scalars(sa.select(Finding).where(Finding.id.in_(duplicates)))} == {
            FindingStatus.OPEN}
        assert [e.id for e in exceptions.listing(s, current_only=True)] == []
        assert len(exceptions.listing(s)) == 2


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("../../etc/passwd.pdf", PDF, "folder parts"),
    ("scan.exe", b"MZ\x90\x00", "not accepted"),
    ("scan.pdf", b"PK\x03\x04not really a zip", "zip archive"),
    ("prices.xlsx", b"GIF89a....", "image/gif"),
    ("empty.csv", b"", "empty"),
    ("big.pdf", b"%PDF-" + b"0" * (10 * 2**20), "MiB"),
    ("list.csv", "项目,单价\nD0001,9.00\n".encode("gb18030"), None),
    ("photo.jpg", b"\xff\xd8\xff\xe0 jfif", None),
])
def test_attachments_are_what_their_names_say(name: str, data: bytes, reason: str | None) -> None:
    if reason is None:
        assert attachments.check(Upload(name, data)).file_name == name
    else:
        with pytest.raises(ReviewError, match=reason):
            attachments.check(Upload(name, data))


def test_a_workbook_with_macros_is_refused(tmp_path) -> None:
    import zipfile

    path = tmp_path / "book.xlsx"
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("[Content_Types].xml", "<Types/>")
        book.writestr("xl/workbook.xml", "<workbook/>")
        book.writestr("xl/vbaProject.bin", b"\x00macro")
    with pytest.raises(ReviewError, match="workbook with macros"):
        attachments.check(Upload("book.xlsx", path.read_bytes()))


def test_doctor_warns_when_the_calendar_lacks_this_years_holidays(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import dataclasses
    import shutil

    from ncms.doctor import WARN, check_config

    config = tmp_path / "config"
    shutil.copytree(settings.config_dir, config)
    (config / "calendar.yaml").write_text("response_working_days: 10\nholidays: [2001-01-01]\n")
    check = check_config(dataclasses.replace(settings, config_dir=config))
    assert check.status == WARN and f"lists no public holiday of {date.today().year}" in check.detail
    assert "answer findings in 10 working days" in check.detail


def test_deadlines_and_overdue_are_days_of_beijing_not_of_utc(found) -> None:  # type: ignore[no-untyped-def]
    from ncms.review.calendar import local_day

    assert local_day(datetime(2026, 9, 27, 23, 30, tzinfo=timezone.utc)) == date(2026, 9, 28)  # 07:30 in Beijing
    with session_scope(found) as s:
        target = _ids(s, "overpayment")[0]
        # pushed on Monday 28 September at 07:30 Beijing time, Sunday 23:30 in UTC: Monday's push
        workflow.push(s, _user(s, "auditor"), [target], CALENDAR, now=datetime(2026, 9, 27, 23, 30, tzinfo=timezone.utc))
    assert _finding(found, target).due_on == date(2026, 10, 10)
    with session_scope(found) as s:  # 10 October is over in Beijing at 16:30 UTC, not in UTC
        with pytest.raises(ReviewError):
            workflow.determine(s, _user(s, "auditor"), target, "0", "late", now=datetime(2026, 10, 10, 15, 0,
                                                                                         tzinfo=timezone.utc))
        workflow.determine(s, _user(s, "auditor"), target, "0", "late",
                           now=datetime(2026, 10, 10, 16, 30, tzinfo=timezone.utc))


def test_what_findings_are_about_read_once_for_the_county_page_and_the_notice(found) -> None:  # type: ignore[no-untyped-def]
    from ncms.models import Institution
    from ncms.monitor.subjects import subjects

    with session_scope(found) as s:
        claim_finding = s.get(Finding, _ids(s, "overpayment")[0])
        hospital = s.scalar(sa.select(Institution).where(Institution.code == HOSPITAL))
        model = Finding(id=-1, subject_key=f"institution:{HOSPITAL}:2011-Q2", institution_id=hospital.id)
        fund = Finding(id=-2, subject_key=f"fund:{COUNTY}:2011")
        claim, window, other = subjects(s, COUNTY, [claim_finding, model, fund])
    assert (claim.kind, claim.label, claim.claim_id) == ("claim", "W1", claim_finding.claim_id)
    assert claim.institution_name == hospital.name
    assert (window.kind, window.label, window.window, window.institution_code) == (
        "institution", hospital.name, "2011-Q2", HOSPITAL)
    assert (other.kind, other.label) == ("other", "2011")
