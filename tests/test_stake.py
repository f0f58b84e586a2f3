"""Money at stake counted once: a claim's money under the one finding that explains it, a
member's or an institution's beyond what their claims' findings already count, the fund
warnings apart; and evidence amounts typed alike on SQLite and PostgreSQL."""
from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ncms.db import session_scope
from ncms.ingest import ingest_package
from ncms.models import Finding, FindingStatus, Institution, Severity
from ncms.monitor import run_monitor
from ncms.monitor.findings import MONEY_EVIDENCE
from ncms.monitor.stake import money_at_stake

from .packages import COUNTY, HOSPITAL, member, package
from .test_monitor import TODAY, line, stay

MEMBERS = ["M1", "M2", "M3"]
CLAIMS = [
    stay("S1", "M1", "2011-04-01", "2011-04-10"),                                     # 525.00 paid
    dict(stay("S1", "M1", "2011-04-01", "2011-04-10"), claim_id="S2", settlement_date="2011-04-20"),  # its copy
    stay("W1", "M2", "2011-05-01", "2011-05-05", compensated_amount="700.00"),        # 175.00 above the scheme
    stay("C1", "M3", "2011-06-01", "2011-06-10", total="40250.00"),                   # 28,000.00 paid
    dict(stay("C1", "M3", "2011-06-01", "2011-06-10", total="40250.00"), claim_id="C2",
         settlement_date="2011-06-30"),        # its copy: 56,000.00 in the year, 6,000.00 above the 50,000.00 cap
]
# amoxicillin, 8.50 in the catalogue, billed at 9.00, and the rest of the stay
ITEMS = [row for cid in ("S1", "S2") for row in (line(cid, "D0001", "9.00"),
                                                 dict(line(cid, "Z0001", "991.00"), line_no="2"))]
COPIES = Decimal("525.00") + Decimal("28000.00")
AT_STAKE = COPIES + Decimal("175.00") + Decimal("0.50")  # S1's item billed above its price; S2's is its copy's


@pytest.fixture
def copies(loaded_engine, settings, tmp_path):  # type: ignore[no-untyped-def]
    """Two stays billed twice each (one copy pushing its member over the annual cap), one
    overpaid stay, and a fund that pays more than it raised."""
    settings.ensure_dirs()
    members = [member(no) for no in MEMBERS]
    enrolments = [dict(member_no=no, year="2011", contribution="30.00", enrolled_on=None) for no in MEMBERS]
    financing = [dict(year="2011", month="3", source="central", amount="50000.00")]
    result = ingest_package(loaded_engine, settings, package(tmp_path / "p.zip", members=members,
                            enrolments=enrolments, claims=CLAIMS, claim_items=ITEMS, financing=financing), today=TODAY)
    assert (result.status.value, result.rows_rejected) == ("loaded", 0), result.error
    return loaded_engine


def _found(engine) -> dict[str, set[str]]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        rows = s.execute(sa.select(Finding.rule_code, Finding.subject_key)).all()
    found: dict[str, set[str]] = {}
    for rule, key in rows:
        found.setdefault(rule, set()).add(key.split(":", 2)[2])
    return found


def test_a_copy_of_a_stay_is_a_duplicate_not_an_overlap(copies, settings) -> None:  # type: ignore[no-untyped-def]
    run_monitor(copies, settings, counties=[COUNTY])
    found = _found(copies)
    assert found["duplicate_claim"] == {"S2", "C2"} and "overlapping_stays" not in found
    assert found["overpayment"] == {"W1"} and found["cap_breach"] == {"M3:2011"}
    assert found["over_standard_price"] == {"S1", "S2"}


def test_every_total_counts_a_claims_money_once_and_the_fund_apart(copies, settings) -> None:  # type: ignore[no-untyped-def]
    result = run_monitor(copies, settings, counties=[COUNTY])
    with session_scope(copies) as s:
        hospital = s.scalar(sa.select(Institution.id).where(Institution.code == HOSPITAL))
        fund = {f.rule_code: f.amount_at_stake for f in s.scalars(sa.select(Finding).where(
            Finding.rule_code.like("fund_%")))}
    assert fund["fund_overspend"] > 0  # 57,750.00 paid by June: 115,500.00 projected against 50,000.00
    assert result.amount == AT_STAKE
    amounts = {rule: amount for rule, amount in result.per_rule("amount").items() if amount}
    # the copy under duplicate claim, not under the price its item was billed at; the copy's money
    # not again above the cap: without the copy the member is under it
    assert amounts == {"duplicate_claim": COPIES, "overpayment": Decimal("175.00"),
                       "over_standard_price": Decimal("0.50")}
    assert result.stake.per_county == {COUNTY: AT_STAKE} and result.stake.per_institution == {hospital: AT_STAKE}
    assert result.stake.explained == 2  # S2's item, and the cap breach
    assert result.stake.fund == {rule: (1, amount) for rule, amount in fund.items()}
    with copies.connect() as conn:  # the findings that hold now: the same
        assert money_at_stake(conn).total == AT_STAKE


def test_a_dismissed_finding_is_no_money_at_stake_and_its_claim_falls_to_the_next_rule(copies, settings) -> None:  # type: ignore[no-untyped-def]
    run_monitor(copies, settings, counties=[COUNTY])
    with session_scope(copies) as s:
        s.execute(sa.update(Finding).where(Finding.subject_key == f"claim:{COUNTY}:S2",
                                           Finding.rule_code == "duplicate_claim")
                  .values(status=FindingStatus.DISMISSED))
    with copies.connect() as conn:
        stake = money_at_stake(conn)
    # S2 is now explained by its item's price; C2's copy still by duplicate claim
    assert stake.per_rule["duplicate_claim"] == Decimal("28000.00")
    assert stake.per_rule["over_standard_price"] == Decimal("1.00")
    assert stake.total == AT_STAKE - Decimal("525.00") + Decimal("0.50")


def test_an_institutions_finding_adds_only_what_its_claims_findings_do_not(copies, settings) -> None:  # type: ignore[no-untyped-def]
    run_monitor(copies, settings, counties=[COUNTY])
    with session_scope(copies) as s:
        hospital = s.scalar(sa.select(Institution.id).where(Institution.code == HOSPITAL))
        for month, amount in (("04", "1000.00"), ("05", "100.00")):
            s.add(Finding(rule_code="institution_anomaly", rule_version="1", subject_key=f"institution:{HOSPITAL}:2011-{month}",
                          county_code=COUNTY, institution_id=hospital, severity=Severity.SUSPICIOUS,
                          amount_at_stake=Decimal(amount), period_start=date(2011, int(month), 1),
                          period_end=date(2011, int(month), 30)))
    with copies.connect() as conn:
        stake = money_at_stake(conn)
    # April's claims' findings count 525.50 of its 1,000.00; May's 175.00, more than its 100.00
    assert stake.per_rule["institution_anomaly"] == Decimal("474.50")
    assert stake.total == AT_STAKE + Decimal("474.50")


FEN = re.compile(r"^-?\d+\.\d\d$")


def test_evidence_amounts_read_back_as_fen_exact_strings(copies, settings) -> None:  # type: ignore[no-untyped-def]
    run_monitor(copies, settings, counties=[COUNTY])
    with session_scope(copies) as s:
        evidence = {(f.rule_code, f.subject_key.rsplit(":", 1)[-1]): f.evidence for f in s.scalars(sa.select(Finding))}
    assert evidence["duplicate_claim", "S2"]["first_total"] == "1000.00"  # SQLite gave 1000, an integer
    assert evidence["fund_overspend", "2011"]["projected"] == "115500.00"  # SQLite gave a float
    amounts = [(rule, key, value) for (rule, _), found in evidence.items() for key, value in found.items()
               if key in MONEY_EVIDENCE]
    assert len(amounts) > 10 and all(isinstance(v, str) and FEN.match(v) for _, _, v in amounts), amounts
    floats = [(rule, key) for (rule, _), found in evidence.items() for key, value in found.items()
              if isinstance(value, float)]
    assert not floats


def test_ncms_monitor_run_prints_money_at_stake_and_the_fund_apart(copies, cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("monitor", "run", "--no-anomaly")
    assert done.exit_code == 0, done.output
    assert f"money at stake: {AT_STAKE:,.2f} yuan" in done.output
    assert re.search(r"^fund: 1 county projected short by 65,500\.00 yuan \(fund_overspend\)$", done.output, re.M)
    rows = {line.split()[0]: line.split() for line in done.output.splitlines() if line.split()}
    assert rows["duplicate_claim"][4] == f"{COPIES:,.2f}" and rows["fund_overspend"][4] == "fund"


def test_money_at_stake_reads_each_total_once_not_once_per_finding(copies, settings) -> None:  # type: ignore[no-untyped-def]
    """The plan joins each finding to its member's and institution's totals by an index (SQLite
    builds one when it can): a scan of the member totals per finding made 100,000 findings take
    34 s instead of 0.7 s."""
    run_monitor(copies, settings, counties=[COUNTY])
    if copies.dialect.name != "sqlite":
        pytest.skip("the plan of SQLite, whose automatic indexes need comparable types")
    from ncms.monitor.stake import counted, holding

    rows = counted(*holding()).subquery("counted")
    sql = sa.select(rows.c.rule_code, sa.func.sum(rows.c.counted)).group_by(rows.c.rule_code).compile(
        copies, compile_kwargs={"literal_binds": True})
    with copies.connect() as conn:
        plan = [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]
    scans = [step for step in plan if step.startswith("SCAN") and "LEFT-JOIN" in step]
    assert not scans, plan
