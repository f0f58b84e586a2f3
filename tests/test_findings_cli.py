"""``ncms findings list|export``: the findings taken out as an auditor reads them and as Excel
opens them, chosen by county, rule, status, period and institution; a wrong choice is one line
naming what there is. On SQLite and PostgreSQL alike."""
from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ncms.db import session_scope
from ncms.ingest import ingest_package
from ncms.models import Finding, FindingStatus
from ncms.monitor import run_monitor

from .packages import HOSPITAL, TOWNSHIP, claim, member, package

OTHER = "520422"  # a second county
OTHER_TOWNSHIP = "520422200001"  # 普定县马官镇卫生院
RULES = ["care_after_death", "overlapping_stays", "duplicate_claim", "fund_overspend"]


def inpatient(cid: str, member_no: str, admitted: str, discharged: str, institution: str = HOSPITAL,
              paid: str = "500.00") -> dict[str, str]:
    return claim(cid, member_no, admission_date=admitted, discharge_date=discharged, settlement_date=discharged,
                 institution_code=institution, total_amount="1000.00", eligible_amount="1000.00",
                 compensated_amount=paid)


def outpatient(cid: str, member_no: str, day: str, institution: str = TOWNSHIP) -> dict[str, str]:
    return claim(cid, member_no, kind="outpatient", admission_date=day, discharge_date=None, settlement_date=day,
                 institution_code=institution, total_amount="30.00", eligible_amount="30.00",
                 compensated_amount="10.50")


def county_package(path, county, members, claims):  # type: ignore[no-untyped-def]
    """A county's package whose fund received 5 yuan in 2011: every county overspends."""
    return package(path, county=county, members=members, claims=claims,
                   enrolments=[dict(member_no=m["member_no"], year="2011", contribution="30.00", enrolled_on=None)
                               for m in members],
                   financing=[dict(year="2011", month="3", source="central", amount="5.00")])


@pytest.fixture
def findings(loaded_engine, settings, tmp_path):  # type: ignore[no-untyped-def]
    """Findings of four rules in two counties: care after death in each, a visit after death
    billed twice (two findings hold for the copy), two overlapping stays, a stay billed twice,
    and both funds overspent."""
    settings.ensure_dirs()
    xifeng = county_package(tmp_path / "a.zip", "520122", [
        member("M1"), member("M2"), member("M3", death_date="2011-03-10")], [
        outpatient("D1", "M3", "2011-03-15"),
        outpatient("D2", "M3", "2011-03-15"),
        inpatient("O1", "M1", "2011-04-01", "2011-04-10"),
        inpatient("O2", "M1", "2011-04-05", "2011-04-12", institution=TOWNSHIP, paid="300.00"),
        inpatient("X1", "M2", "2011-06-01", "2011-06-05"),
        inpatient("X2", "M2", "2011-06-01", "2011-06-05")])
    puding = county_package(tmp_path / "b.zip", OTHER, [member("M7", death_date="2011-08-01")], [
        outpatient("E1", "M7", "2011-09-02", institution=OTHER_TOWNSHIP)])
    for path in (xifeng, puding):
        result = ingest_package(loaded_engine, settings, path, today=date(2013, 1, 1))
        assert (result.status.value, result.rows_rejected) == ("loaded", 0), result.error
    run_monitor(loaded_engine, settings, rules=RULES)
    return loaded_engine


def rows_of(engine):  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return {(f.rule_code, f.subject_key.rsplit(":", 1)[-1]): f
                for f in conn.execute(sa.select(Finding.id, Finding.rule_code, Finding.subject_key))}


def test_list_shows_each_finding_with_its_institution_claim_period_and_money(findings, cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("findings", "list")
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0].split() == ["id", "rule", "status", "county", "institution", "claim", "period", "amount", "(yuan)"]
    death = next(line for line in lines if "care_after_death" in line and " D1 " in line)
    assert "520122200001 息烽县温泉镇卫生院" in death and "2011-03-15:2011-03-15" in death
    assert death.rstrip().endswith("10.50")
    assert any("fund_overspend" in line and "fund " in line for line in lines)  # a fund figure, said so
    assert "8 finding(s)" in done.output
    # the copy D2 is counted once, under the duplicate: its care after death adds nothing
    assert "money at stake among them: 831.50 yuan" in done.output  # 10.50 × 3 + 300 + 500

    limited = cli("findings", "list", "--limit", "2")
    assert limited.exit_code == 0 and "shown: 2 of 8 finding(s)" in limited.output
    assert len([line for line in limited.output.splitlines() if line.split()[0].isdigit()]) == 2


def test_export_csv_opens_in_excel_with_its_chinese_names(findings, cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "findings.csv"
    done = cli("findings", "export", "--out", str(out))
    assert done.exit_code == 0, done.output
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the byte-order mark by which Excel knows UTF-8
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert len(rows) == 8
    assert list(rows[0]) == ["id", "rule", "severity", "status", "county", "county_name", "institution_code",
                             "institution_name", "claim_no", "subject", "period_start", "period_end", "amount",
                             "amount_kind", "counted", "first_seen", "last_seen", "evidence"]
    death = next(r for r in rows if r["rule"] == "care_after_death" and r["county"] == OTHER)
    assert (death["county_name"], death["institution_code"], death["institution_name"]) == \
        ("普定县", OTHER_TOWNSHIP, "普定县马官镇卫生院")
    assert (death["claim_no"], death["period_start"], death["amount"], death["status"]) == \
        ("E1", "2011-09-02", "10.50", "open")
    assert json.loads(death["evidence"])["death_date"] == "2011-08-01"
    fund = [r for r in rows if r["rule"] == "fund_overspend"]
    assert {r["amount_kind"] for r in fund} == {"fund"} and {r["claim_no"] for r in fund} == {""}

    to_stdout = cli("findings", "export", "--rule", "care_after_death")
    assert to_stdout.exit_code == 0 and to_stdout.output.startswith("\ufeffid,rule,")
    assert len(to_stdout.output.strip().splitlines()) == 4  # the header, D1, D2, E1


def test_export_json_has_evidence_and_amounts_to_the_fen(findings, cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "findings.json"
    assert cli("findings", "export", "--out", str(out)).exit_code == 0
    rows = json.loads(out.read_text(encoding="utf-8"))
    assert len(rows) == 8
    for row in rows:
        assert isinstance(row["amount"], str) and Decimal(row["amount"]).as_tuple().exponent == -2
    by = {(r["rule"], r["claim_no"]): r for r in rows}
    assert by["overlapping_stays", "O2"]["amount"] == "300.00"
    assert by["overlapping_stays", "O2"]["evidence"]["other_claim"] == "O1"
    assert by["care_after_death", "D1"]["evidence"] == {"death_date": "2011-03-10", "admission_date": "2011-03-15"}
    # the copy D2 holds for two rules; its money counts once, under the duplicate
    assert (by["duplicate_claim", "D2"]["counted"], by["care_after_death", "D2"]["counted"]) == ("10.50", "0.00")
    assert (by["care_after_death", "D2"]["amount"], by["care_after_death", "D1"]["counted"]) == ("10.50", "10.50")
    assert by["duplicate_claim", "X2"]["counted"] == "500.00"
    assert {r["counted"] for r in rows if r["rule"] == "fund_overspend"} == {"0.00"}  # a fund figure, not at stake
    same = cli("findings", "export", "--format", "json", "--county", OTHER)
    assert [r["claim_no"] for r in json.loads(same.output)] == ["E1", None]  # its death, then its fund


def test_filters_choose_by_county_rule_status_period_and_institution(findings, cli) -> None:  # type: ignore[no-untyped-def]
    with session_scope(findings) as s:
        s.execute(sa.update(Finding).where(Finding.subject_key.like("%:O2")).values(status=FindingStatus.CONFIRMED))

    def chosen(*args: str) -> list[tuple[str, str]]:
        done = cli("findings", "export", "--format", "json", *args)
        assert done.exit_code == 0, done.output
        return sorted((r["rule"], r["claim_no"] or r["county"]) for r in json.loads(done.output))

    assert chosen("--county", OTHER) == [("care_after_death", "E1"), ("fund_overspend", OTHER)]
    assert chosen("--county", OTHER, "--county", "520122", "--rule", "care_after_death") == \
        [("care_after_death", "D1"), ("care_after_death", "D2"), ("care_after_death", "E1")]
    assert chosen("--status", "confirmed") == [("overlapping_stays", "O2")]
    assert chosen("--status", "open", "--rule", "overlapping_stays") == []
    assert chosen("--status", "confirmed", "--status", "open", "--rule", "overlapping_stays") == \
        [("overlapping_stays", "O2")]
    # a period touches a finding's own dates (a fund's is its year)
    assert chosen("--period", "2011-03-01:2011-04-04", "--county", "520122") == \
        [("care_after_death", "D1"), ("care_after_death", "D2"), ("duplicate_claim", "D2"),
         ("fund_overspend", "520122")]
    assert chosen("--period", "2011-04-11:2011-04-30", "--rule", "overlapping_stays") == [("overlapping_stays", "O2")]
    assert chosen("--institution", TOWNSHIP) == [("care_after_death", "D1"), ("care_after_death", "D2"),
                                                 ("duplicate_claim", "D2"), ("overlapping_stays", "O2")]
    assert chosen("--institution", OTHER_TOWNSHIP, "--institution", HOSPITAL) == \
        [("care_after_death", "E1"), ("duplicate_claim", "X2")]
    assert chosen("--period", "2010") == []


@pytest.mark.parametrize("args, message", [
    (["--county", "999999"], "--county 999999: not a county of this province; its counties are 520121, 520122"),
    (["--rule", "care_after_deth"], "--rule care_after_deth: no such rule; the rules are age_restricted_diagnosis,"),
    (["--status", "opened"], "--status opened: no such status; the statuses are open, sent_to_county,"),
    (["--period", "2011-12-31:2011-01-01"], "--period '2011-12-31:2011-01-01': it starts after it ends"),
    (["--period", "2011-02-30:2011-03-01"], "--period '2011-02-30:2011-03-01': give FROM:TO as dates"),
    (["--institution", "52012230000"], "--institution 52012230000: no such institution; codes look like"),
])
def test_a_wrong_choice_is_one_line_naming_what_there_is(loaded_engine, cli, args, message) -> None:  # type: ignore[no-untyped-def]
    for command in ("list", "export"):
        done = cli("findings", command, *args)
        assert done.exit_code == 2, done.output
        assert done.output.startswith(f"Error: {message}"), done.output
        assert len(done.output.strip().splitlines()) == 1


def test_the_statuses_offered_are_the_findings_statuses() -> None:
    from ncms.cli.findings import STATUSES

    assert STATUSES == tuple(status.value for status in FindingStatus)


def test_an_unmigrated_database_is_refused_with_the_fix(cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("findings", "list")
    assert done.exit_code == 1 and "run `ncms db upgrade`" in done.output


def test_export_csv_quotes_text_excel_would_take_for_a_formula() -> None:
    from ncms.cli.findings import _write_csv
    from ncms.monitor.listing import COLUMNS

    row = {name: None for name in COLUMNS}
    row.update(id=7, rule="duplicate_claim", claim_no='=HYPERLINK("http://x","C1")', subject="@SUM(1)",
               amount="10.50", evidence={"note": "-1"})
    out = io.StringIO()
    assert _write_csv([row], out) == 1
    written = next(csv.DictReader(io.StringIO(out.getvalue().lstrip("\ufeff"))))
    assert written["claim_no"] == '\'=HYPERLINK("http://x","C1")' and written["subject"] == "'@SUM(1)"
    assert (written["id"], written["amount"]) == ("7", "10.50")  # numbers and amounts as they were
