"""The ``ncms`` command as an operator uses it: clear output, one-line errors, safe to repeat."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from ncms.cli import main
from ncms.db import create_engine, session_scope
from ncms.migrate import head_revision
from ncms.models import AuditLog, Claim, County, Finding, FindingAttachment, FindingStatus, User


def count(url: str, model) -> int:  # type: ignore[no-untyped-def]
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()
    finally:
        engine.dispose()


def test_help_needs_nothing(monkeypatch):
    from click.testing import CliRunner

    monkeypatch.setenv("NCMS_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for group in ("db", "users", "demo", "serve", "doctor", "etl", "ingest"):
        assert group in result.output


def test_demo_twice_in_a_row(cli, settings):
    first = cli("demo", "--claims", "3000")
    assert first.exit_code == 0, first.output
    assert "3 centralised (etl) and 3 distributed (gateway) counties" in first.output
    assert "extracted 12 batches" in first.output  # 3 counties × 4 streams, from their vendor databases
    assert "held back 520422-0003.zip" in first.output
    assert "520122 push 520122-0001.zip" in first.output and "2 attempt(s)" in first.output  # cut and resumed
    assert "took 11 packages from the gateway's spool inboxes" in first.output  # 3 counties × 4, one late
    assert "findings hold" in first.output and "care_after_death" in first.output  # the rules ran
    # money at stake and the funds' projections apart (docs/rules.md "Money at stake, counted once")
    assert re.search(r"^money at stake: [\d,]+\.\d\d yuan", first.output, re.M)
    assert re.search(r"^fund: \d+ count(y|ies) projected short by [\d,]+\.\d\d yuan", first.output, re.M)
    assert re.search(r"^  520122: [\d,]+\.\d\d yuan at stake", first.output, re.M)
    # the demo's schemes give terms for every claim it makes: each rule judged each claim it read
    assert "unchecked: none (every rule judged every claim it read)" in first.output
    # the demo province's reports to the ministry, built through the reports package's entry point
    assert re.search(r"^report: annual 2011 of the province, revision 1: .*ncms-520000-annual-2011-zh-r1-\w{8}\.zip$",
                     first.output, re.M)
    assert "report: quarterly 2011-Q4 of 520121, revision 1" in first.output
    # a few findings taken through the review loop, so that the workbench and the inbox show it
    assert re.search(r"^review: 10 findings assigned to the auditor; 9 pushed", first.output, re.M)
    with session_scope(create_engine(settings.database_url)) as s:
        states = dict(s.execute(sa.select(Finding.status, sa.func.count()).group_by(Finding.status)).all())
        assert (states[FindingStatus.SENT_TO_COUNTY], states[FindingStatus.CONFIRMED],
                states[FindingStatus.DISMISSED]) == (8, 1, 1)
        assert s.scalar(sa.select(sa.func.count()).select_from(FindingAttachment)) == 2  # one file, twice answered
        assert s.scalar(sa.select(Finding.amount_recovered).where(Finding.status == FindingStatus.CONFIRMED)) > 0
    claims = count(settings.database_url, Claim)
    assert 2500 < claims <= 3000  # a few malformed claims are refused, the late package is held back
    second = cli("demo", "--claims", "3000")
    assert second.exit_code == 0, second.output
    assert count(settings.database_url, County) == 6
    assert count(settings.database_url, Claim) == claims  # the same seed: the same data, loaded once
    assert "extracted 0 batches" in second.output  # the county databases hold nothing past the watermarks
    assert "report: annual 2011 of the province built already" in second.output
    assert "review: the demo's findings are under review already" in second.output
    receipts = list((settings.spool_dir / "520122" / "outbox").glob("receipt-*.json"))
    assert len(receipts) == 8  # 4 packages, twice: every batch gets its receipt


def test_upgrade_then_current(cli):
    result = cli("db", "upgrade")
    assert result.exit_code == 0 and f"database at revision {head_revision()} (was empty)" in result.output
    assert "up to date" in cli("db", "current").output


def test_commands_refuse_an_unmigrated_database_with_the_fix(cli):
    result = cli("db", "load-config")
    assert result.exit_code == 1
    assert "run `ncms db upgrade`" in result.output
    assert "Traceback" not in result.output


def test_unreachable_database_is_one_line_not_a_traceback(cli):
    result = cli("--database-url", "postgresql://nobody@127.0.0.1:1/none", "db", "upgrade")
    assert result.exit_code == 1
    assert result.output.startswith("Error: database:")
    assert len(result.output.strip().splitlines()) == 1


def test_users_create_with_roles_and_scope(cli, settings):
    assert cli("db", "upgrade").exit_code == 0 and cli("db", "load-config").exit_code == 0
    ok = cli("users", "create", "wang", "--role", "auditor", "--full-name", "王审计",
             env={"NCMS_NEW_PASSWORD": "long-enough-secret"})
    assert ok.exit_code == 0 and "created auditor wang" in ok.output
    county = cli("users", "create", "kaiyang", "--role", "county", "--county", "520121",
                 input="county-secret-1\ncounty-secret-1\n")
    assert county.exit_code == 0 and "for county 520121" in county.output
    unscoped = cli("users", "create", "li", "--role", "county", env={"NCMS_NEW_PASSWORD": "long-enough-secret"})
    assert unscoped.exit_code == 1 and "county code is required" in unscoped.output
    again = cli("users", "create", "wang", env={"NCMS_NEW_PASSWORD": "long-enough-secret"})
    assert again.exit_code == 1 and "already exists" in again.output
    short = cli("users", "create", "zhao", env={"NCMS_NEW_PASSWORD": "short"})
    assert short.exit_code == 1 and "at least 10 characters" in short.output
    listing = cli("users", "list").output
    assert "kaiyang" in listing and "520121" in listing and "wang" in listing and "province" in listing
    assert count(settings.database_url, User) == 2
    assert count(settings.database_url, AuditLog) == 2

    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(User.password_hash).where(User.username == "wang")).scalar_one()
    engine.dispose()
    assert "long-enough-secret" not in stored


def test_doctor_says_what_is_wrong_and_how_to_fix_it(cli):
    before = cli("doctor")
    assert before.exit_code == 1
    assert "[FAIL] database migrated" in before.output
    assert "fix: run `ncms db upgrade`" in before.output
    assert cli("demo", "--claims", "3000").exit_code == 0
    after = cli("doctor")
    assert "[ok  ] database migrated" in after.output
    assert "[ok  ] spool writable" in after.output
    assert "[ok  ] CJK font for PDF reports" in after.output
    assert after.exit_code == 0, after.output


def test_doctor_reports_an_unwritable_folder(cli, settings, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = cli("--data-dir", str(blocker / "var"), "doctor")
    assert result.exit_code == 1
    assert "writable" in result.output and "fix:" in result.output


def one_line_refusal(result, exit_code: int = 2) -> str:  # type: ignore[no-untyped-def]
    """The refusal's text, once it is known to be one line and the exit code a refusal's."""
    assert result.exit_code == exit_code, result.output
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith("Error: "), result.output
    return result.output.strip()


@pytest.mark.parametrize("args, message", [
    (["--period", "2011-12-31:2011-01-01"], "--period '2011-12-31:2011-01-01': it starts after it ends"),
    (["--period", "2011-13-01:2011-12-31"], "--period '2011-13-01:2011-12-31': give FROM:TO as dates"),
    (["--period", "March"], "--period 'March': give FROM:TO as dates (2011-01-01:2011-06-30) or a year (2011)"),
    (["--rule", "cap_breach", "--rule", "capbreach"], "--rule capbreach: no such rule; the rules are"),
    (["--county", "999999"], "--county 999999: not a county of this province; its counties are 520121, 520122,"),
    (["--incremental", "--period", "2011"], "--incremental reads what arrived since the last run: give no --period"),
], ids=["reversed", "malformed", "not-a-period", "rule", "county", "incremental-period"])
def test_monitor_run_refuses_a_wrong_choice_in_one_line(loaded_engine, cli, args, message):
    refusal = one_line_refusal(cli("monitor", "run", *args))
    assert refusal.startswith(f"Error: {message}")
    if "--rule" in args:  # every rule it knows, the model's too
        assert "cap_breach" in refusal and "care_after_death" in refusal and "institution_anomaly" in refusal


def test_monitor_run_of_no_county_loaded_says_to_load_the_configuration(engine, cli):
    refusal = one_line_refusal(cli("monitor", "run", "--county", "520122"))
    assert "no county is loaded yet; `ncms db load-config`" in refusal


@pytest.mark.parametrize("args", [["upgrade", "nosuch"], ["upgrade", "9999"], ["downgrade", "nosuch"]])
def test_db_migration_to_an_unknown_revision_is_one_line_naming_the_revisions(cli, args):
    assert cli("db", "upgrade").exit_code == 0
    refusal = one_line_refusal(cli("db", *args))
    assert f"revision '{args[1]}': no such revision; the revisions run from 0001 to {head_revision()}" in refusal
    assert "up to date" in cli("db", "current").output  # nothing moved


@pytest.mark.parametrize("args, message", [
    (["--since", "garbage"], "--since 'garbage': give an update time"),
    (["--since", "2011-02-30"], "--since '2011-02-30': give an update time"),
    (["--until", "March"], "--until 'March': give an update time"),
    (["--since", "2011-03-01", "--until", "2011-02-28 23:59:59"], "--since 2011-03-01 is after --until"),
])
def test_etl_refuses_a_range_that_is_no_update_time_in_one_line(loaded_engine, cli, args, message):
    refusal = one_line_refusal(cli("etl", "520121", *args, env={"NCMS_SOURCE_520121": "sqlite:///nowhere.db"}))
    assert refusal.startswith(f"Error: {message}")


@pytest.mark.parametrize("args, env", [(["--port", "99999"], {}), ([], {"NCMS_PORT": "70000"})], ids=["option", "env"])
def test_serve_refuses_a_port_that_is_none(settings, engine, args, env):
    """It used to start and print a port it did not listen on (waitress wraps one above 65535)."""
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "ncms.cli", "--data-dir", str(settings.data_dir),
                           "--database-url", settings.database_url, "serve", *args],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "serving on" not in done.stdout
    assert "65535" in done.stdout + done.stderr and "Traceback" not in done.stderr


def test_ingest_from_the_inbox_of_an_unknown_county_is_refused_in_one_line(loaded_engine, cli):
    refusal = one_line_refusal(cli("ingest", "--inbox", "--county", "52012"))  # a digit short
    assert refusal.startswith("Error: --county 52012: not a county of this province; its counties are 520121,")
