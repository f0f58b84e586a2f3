"""``ncms findings assign|push|answer|decide|recover|dismiss|reopen`` and the rule exceptions, as
a script would use them: the steps land in the history under the account named, a county officer
answers for their county only, bulk steps choose by filter, and wrong input is one line."""
from __future__ import annotations

import sqlalchemy as sa

from ncms.db import session_scope
from ncms.models import Finding, FindingAttachment, FindingMonth, FindingStatus, RuleException

from .test_findings_cli import OTHER, findings, rows_of  # noqa: F401  (the fixture: findings in two counties)
from .webauth import add_accounts

PDF = b"%PDF-1.4\n%%EOF\n"


def _status(engine, finding_id: int) -> FindingStatus:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return s.get(Finding, finding_id).status


def test_a_finding_through_the_loop_from_the_command_line(findings, cli, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    add_accounts(findings)
    death = rows_of(findings)[("care_after_death", "D1")].id
    pushed = cli("findings", "push", "--as", "auditor", "--note", "explain the visit after death", str(death))
    assert pushed.exit_code == 0, pushed.output
    assert "pushed 1 finding(s)" in pushed.output and "due on " in pushed.output
    scan = tmp_path / "死亡证明.pdf"
    scan.write_bytes(PDF)
    answered = cli("findings", "answer", "--as", "officer", str(death), "--text", "the date of death was wrong",
                   "--appeal", "--attach", str(scan))
    assert answered.exit_code == 0, answered.output
    assert "answered (appeal, 1 file(s))" in answered.output
    back = cli("findings", "decide", "--as", "auditor", str(death), "--send-back", "--text", "send the register")
    assert back.exit_code == 0 and "sent back to the county" in back.output
    again = cli("findings", "answer", "--as", "officer", str(death), "--text", "register attached")
    assert again.exit_code == 0, again.output
    decided = cli("findings", "decide", "--as", "auditor", str(death), "--violation", "10.50", "--text", "paid after death")
    assert decided.exit_code == 0 and "10.50 yuan to recover" in decided.output
    with session_scope(findings) as s:  # the start page's summary counts it confirmed at once
        assert s.scalar(sa.select(sa.func.sum(FindingMonth.confirmed))) == 1
    part = cli("findings", "recover", "--as", "auditor", str(death), "5.00", "--text", "receipt 17")
    assert part.exit_code == 0 and "5.00 of 10.50 yuan recovered, 5.50 to go" in part.output
    too_much = cli("findings", "recover", "--as", "auditor", str(death), "6.00")
    assert too_much.exit_code == 1 and "more than the 5.50 yuan still to recover" in too_much.output
    history = cli("findings", "history", str(death))
    assert history.exit_code == 0, history.output
    kinds = [line.split()[3] for line in history.output.splitlines()[1:]]
    assert kinds == ["raised", "pushed", "county_response", "sent_back", "county_response", "determined",
                     "recovered"]
    assert "[appeal]" in history.output and "files: 死亡证明.pdf" in history.output
    assert "to recover 10.50 (recovered 5.00)" in history.output.splitlines()[0]
    reopened = cli("findings", "reopen", "--as", "auditor", str(death), "--reason", "new evidence")
    assert reopened.exit_code == 0 and _status(findings, death) is FindingStatus.OPEN
    with session_scope(findings) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(FindingAttachment)) == 1


def test_a_county_officer_answers_for_their_county_only(findings, cli) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    add_accounts(findings)  # officer: 520122
    other = rows_of(findings)[("care_after_death", "E1")].id  # 普定县's
    assert cli("findings", "push", "--as", "auditor", str(other)).exit_code == 0
    refused = cli("findings", "answer", "--as", "officer", str(other), "--text", "not ours")
    assert refused.exit_code == 1 and f"no finding {other}" in refused.output
    pushing = cli("findings", "push", "--as", "officer", str(other))
    assert pushing.exit_code == 1 and "only a provincial auditor" in pushing.output
    assert cli("findings", "push", "--as", "nobody", str(other)).output.strip().endswith(
        "no account 'nobody' (`ncms users list`)")


def test_bulk_steps_by_filter_and_a_dismissal_that_records_an_exception(findings, cli) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    add_accounts(findings)
    rows = rows_of(findings)
    everything = cli("findings", "push", "--as", "auditor", "--all-matching")
    assert everything.exit_code == 2 and "at least one filter" in everything.output
    mixed = cli("findings", "push", "--as", "auditor", "--county", OTHER, str(rows[("care_after_death", "E1")].id))
    assert mixed.exit_code == 2 and "with --all-matching only" in mixed.output
    pushed = cli("findings", "push", "--as", "auditor", "--all-matching", "--county", OTHER)
    assert pushed.exit_code == 0, pushed.output
    with session_scope(findings) as s:
        statuses = {c: {st for (st,) in s.execute(sa.select(Finding.status).where(Finding.county_code == c))}
                    for c in ("520122", OTHER)}
    assert statuses[OTHER] == {FindingStatus.SENT_TO_COUNTY} and FindingStatus.SENT_TO_COUNTY not in statuses["520122"]
    again = cli("findings", "push", "--as", "auditor", "--all-matching", "--county", OTHER)
    assert again.exit_code == 1 and "sent_to_county: only open can be pushed" in again.output

    overlap = [rows[("overlapping_stays", key)].id for key in ("O1", "O2") if ("overlapping_stays", key) in rows]
    assert overlap
    dismissed = cli("findings", "dismiss", "--as", "auditor", "--reason", "referral agreed with the county",
                    "--exception", "institution", "--code", "520122200001", "--until", "2027-06-30",
                    "--county-only", "520122", *map(str, overlap))
    assert dismissed.exit_code == 0, dismissed.output
    assert f"dismissed {len(overlap)} finding(s)" in dismissed.output
    assert "overlapping_stays for institution 520122200001 in 520122 until 2027-06-30" in dismissed.output
    listed = cli("findings", "exceptions", "--current")
    assert "overlapping_stays" in listed.output and "in force" in listed.output
    with session_scope(findings) as s:
        exception_id = s.scalar(sa.select(RuleException.id))
    revoked = cli("findings", "revoke-exception", "--as", "auditor", str(exception_id), "--reason", "ended")
    assert revoked.exit_code == 0
    assert cli("findings", "exceptions", "--current").output.strip() == "no rule exception in force"
    no_code = cli("findings", "dismiss", "--as", "auditor", "--reason", "x", "--exception", "item", "1")
    assert no_code.exit_code == 2 and "--exception needs --code and --until" in no_code.output


def test_the_audit_notice_of_a_county_from_the_command_line(findings, cli, tmp_path) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    import subprocess

    add_accounts(findings)
    out = tmp_path / "notice.pdf"
    nothing = cli("findings", "notice", "--county", "520122", "--out", str(out))
    assert nothing.exit_code == 1 and "no finding" in nothing.output and not out.exists()
    death = rows_of(findings)[("care_after_death", "D1")].id
    assert cli("findings", "push", "--as", "auditor", str(death)).exit_code == 0
    done = cli("findings", "notice", "--county", "520122", "--out", str(out))
    assert done.exit_code == 0, done.output
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True).stdout
    assert "稽核通知书" in text and str(death) in text
    unknown = cli("findings", "notice", "--county", "999999", "--out", str(out))
    assert unknown.exit_code == 2
