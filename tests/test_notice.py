"""The audit notice (稽核通知书, ncms.review.notice): the PDF lists the county's findings pushed
and not yet answered with their deadlines, none unpushed, answered or of another county; the
days asked for; English; the route's scoping (an auditor any county, a county officer their own,
the ministry never). The PDF's text read back with pdftotext (poppler-utils)."""
from __future__ import annotations

import os
import re
import subprocess
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ncms.db import session_scope
from ncms.models import Finding, FindingStatus, Severity
from ncms.review import workflow
from ncms.review.notice import NoticeError, build_notice, notice, notice_number

from .packages import COUNTY
from .test_review import CALENDAR, PUSHED, _user, found  # noqa: F401  (the fixture)
from .test_stake import copies  # noqa: F401
from .webauth import OTHER_COUNTY, sign_in

SECOND_PUSH = datetime(2026, 10, 12, 2, 0, tzinfo=timezone.utc)  # 10:00 in Beijing, a Monday
ON = date(2026, 10, 13)
SHOTS = os.environ.get("NCMS_SCREENSHOTS")  # a folder: the notice's first page as a PNG there too


def pdf_text(data: bytes, *layout: str) -> str:
    done = subprocess.run(["pdftotext", *layout, "-", "-"], input=data, capture_output=True, check=True)
    return done.stdout.decode("utf-8")


def listed(text: str) -> dict[int, str]:
    """The notice's rows as the layout gives them: finding number -> its line (from -layout)."""
    rows = {}
    for line in text.splitlines():
        match = re.match(r"\s*\d+\s+(\d+)\s+\S", line)
        if match and re.search(r"\d{4}-\d{2}-\d{2}", line):
            rows[int(match.group(1))] = line
    return rows


@pytest.fixture
def pushed(found):  # type: ignore[no-untyped-def]  # noqa: F811
    """Of the county's findings: two pushed on 28 September, one on 12 October, one of them then
    answered, one left open; and one of the other county's pushed."""
    engine = found
    with session_scope(engine) as s:
        auditor = _user(s, "auditor")
        ids = sorted(s.scalars(sa.select(Finding.id).where(Finding.county_code == COUNTY)))
        assert len(ids) >= 5
        first, second, answered, late, unpushed = ids[:5]
        workflow.push(s, auditor, [first, second, answered], CALENDAR, now=PUSHED)
        workflow.push(s, auditor, [late], CALENDAR, now=SECOND_PUSH)
    with session_scope(engine) as s:
        workflow.answer(s, _user(s, "officer"), answered, "paid back already", "explanation",
                        now=datetime(2026, 10, 9, tzinfo=timezone.utc))
        other = Finding(rule_code="overpayment", rule_version="1", subject_key=f"claim:{OTHER_COUNTY}:X9",
                        county_code=OTHER_COUNTY, severity=Severity.VIOLATION, status=FindingStatus.SENT_TO_COUNTY,
                        amount_at_stake=Decimal("12.34"), pushed_at=PUSHED, due_on=date(2026, 10, 10))
        s.add(other)
        s.flush()
        other_id = other.id
    return engine, dict(first=first, second=second, answered=answered, late=late, unpushed=unpushed,
                        other=other_id)


def test_the_notice_lists_the_pushed_unanswered_findings_and_deadlines(pushed, settings) -> None:  # type: ignore[no-untyped-def]
    engine, ids = pushed
    with session_scope(engine) as s:
        data = build_notice(s, COUNTY, on=ON, calendar=CALENDAR, config_dir=settings.config_dir)
        content = notice(s, COUNTY, on=ON, calendar=CALENDAR, config_dir=settings.config_dir)
        amounts = {f.id: f.amount_at_stake for f in s.scalars(sa.select(Finding).where(Finding.id.in_(ids.values())))}
    assert data.startswith(b"%PDF")
    if SHOTS:
        subprocess.run(["pdftoppm", "-r", "60", "-png", "-f", "1", "-l", "1", "-singlefile", "-",
                        os.path.join(SHOTS, "notice-zh-1")], input=data, check=True)
    text = pdf_text(data)
    assert "稽核通知书" in text and "息烽县新型农村合作医疗管理办公室" in text
    assert "贵州省新型农村合作医疗基金监管办公室" in text
    assert notice_number("52", COUNTY, ON) == "52稽通〔2026〕520122-1013号" and "52稽通〔2026〕520122-1013号" in text
    rows = listed(pdf_text(data, "-layout"))
    assert set(rows) == {ids["first"], ids["second"], ids["late"]}  # not the answered, unpushed nor other county's
    # due 5 working days on (CALENDAR): 28 Sep -> Sat 10 Oct (调休), 2 working days late by Tue 13 Oct; 12 Oct -> 19 Oct
    for finding in ("first", "second"):
        assert "2026-09-28" in rows[ids[finding]] and "2026-10-10" in rows[ids[finding]]
        assert "已逾期 2 个工作日" in rows[ids[finding]]
    assert "2026-10-12" in rows[ids["late"]] and "2026-10-19" in rows[ids["late"]]
    assert re.search(r"2026-10-19\s+4\s*$", rows[ids["late"]])
    assert [r.finding_id for r in content.rows] == [ids["first"], ids["second"], ids["late"]]  # earliest due first
    total = amounts[ids["first"]] + amounts[ids["second"]] + amounts[ids["late"]]
    assert content.total == total and f"{total:,.2f}" in text
    assert "15 个工作日" not in text and "第 5 个工作日" in text  # the calendar's days, not the default's
    assert "收件箱" in text and "申诉" in text  # how to answer


def test_the_days_asked_for_english_and_nothing_to_notify(pushed, settings) -> None:  # type: ignore[no-untyped-def]
    engine, ids = pushed
    with session_scope(engine) as s:
        # 12 October in Beijing: the finding pushed at 10:00 that day, not those of 28 September
        day = build_notice(s, COUNTY, on=ON, pushed_on=date(2026, 10, 12), calendar=CALENDAR,
                           config_dir=settings.config_dir)
        since = build_notice(s, COUNTY, on=ON, since=date(2026, 9, 29), calendar=CALENDAR, language="en",
                             config_dir=settings.config_dir)
        with pytest.raises(NoticeError, match="no finding pushed on 2026-10-13"):
            build_notice(s, COUNTY, on=ON, pushed_on=ON, calendar=CALENDAR)
        with pytest.raises(NoticeError, match="no county 529999"):
            build_notice(s, "529999", on=ON)
        with pytest.raises(NoticeError, match="language"):
            build_notice(s, COUNTY, language="fr")
    assert set(listed(pdf_text(day, "-layout"))) == {ids["late"]}
    english = pdf_text(since, "-layout")
    assert set(listed(english)) == {ids["late"]}
    assert "Audit notice" in english and "To the NCMS office of Xifeng" in english
    assert "52-AN-2026-520122-1013" in english and "pushed since 2026-09-29" in english
    assert "Guizhou" in english and "inbox" in english


def test_the_route_is_scoped_to_the_officers_county_not_the_ministry(pushed, app) -> None:  # type: ignore[no-untyped-def]
    engine, ids = pushed
    clients = {}
    for name in ("auditor", "officer", "ministry", "admin"):
        clients[name] = app.test_client()
        assert sign_in(clients[name], name).status_code == 302
    url = f"/findings/notice/{COUNTY}.pdf?on=2026-10-13"
    got = clients["auditor"].get(url)
    assert got.status_code == 200 and got.mimetype == "application/pdf"
    assert got.headers["Content-Disposition"].startswith('attachment; filename="') and "520122-20261013.pdf" in \
        got.headers["Content-Disposition"]
    assert set(listed(pdf_text(got.data, "-layout"))) == {ids["first"], ids["second"], ids["late"]}
    assert "第 15 个工作日" in pdf_text(got.data)  # the route reads the shipped calendar (config_dir)
    own = clients["officer"].get(url + "&lang=en")
    assert own.status_code == 200 and "Audit notice" in pdf_text(own.data)
    assert clients["officer"].get(f"/findings/notice/{OTHER_COUNTY}.pdf").status_code == 404
    assert clients["officer"].get("/findings/notice/529999.pdf").status_code == 404
    assert clients["ministry"].get(url).status_code == 403
    other = clients["admin"].get(f"/findings/notice/{OTHER_COUNTY}.pdf")
    assert other.status_code == 200 and set(listed(pdf_text(other.data, "-layout"))) == {ids["other"]}
    assert clients["admin"].get("/findings/notice/520123.pdf").status_code == 404  # nothing pushed to it
    assert clients["admin"].get(url + "&since=yesterday").status_code == 400
    assert app.test_client().get(url).status_code in (302, 401)  # not signed in
