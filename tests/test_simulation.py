"""The scheme simulation against a county computed by hand (docs/simulation.md): twelve claims of
开阳县 (520121) in 2015 under the county's own scheme and two candidates, every figure worked out
in the comments; and candidate files read and refused as schemes.yaml is. SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from ncms.config import ConfigError
from ncms.models import (Claim, ClaimKind, CompensationScheme, Enrolment, FundFinancing, FundingSource, Institution,
                         InstitutionLevel, Member, SchemeLevel, Sex)
from ncms.simulation import CURRENT, parse_candidates_text, read_candidates, simulate

D = Decimal
INPATIENT, OUTPATIENT = ClaimKind.INPATIENT, ClaimKind.OUTPATIENT
VILLAGE, TOWNSHIP, COUNTY, MUNICIPAL = (InstitutionLevel.VILLAGE, InstitutionLevel.TOWNSHIP, InstitutionLevel.COUNTY,
                                        InstitutionLevel.MUNICIPAL)
EXAMPLE = Path(__file__).resolve().parents[1] / "config" / "candidate-scheme.example.yaml"

CANDIDATES = """\
candidates:
  - name: 提高住院比例
    annual_cap: "2000.00"
    referral_required: true
    unreferred_ratio_cut: "0.10"
    inpatient:
      township:  {deductible: "100.00", ratio: "0.90"}
      county:    {deductible: "300.00", ratio: "0.75"}
      municipal: {deductible: "600.00", ratio: "0.55"}
    outpatient:
      township: {deductible: "0.00", ratio: "0.50", per_visit_cap: "40.00"}
  - name: 门诊统筹
    annual_cap: "800.00"
    outpatient_annual_cap: "40.00"
    referral_required: false
    inpatient:
      township:  {deductible: "200.00", ratio: "0.85"}
      county:    {deductible: "400.00", ratio: "0.65"}
      municipal: {deductible: "800.00", ratio: "0.45"}
    outpatient:
      village:  {deductible: "0.00", ratio: "0.50", per_visit_cap: "10.00"}
      township: {deductible: "0.00", ratio: "0.40", per_visit_cap: "30.00"}
"""
A, B = "提高住院比例", "门诊统筹"
NAMES = {"M1": "张三", "M2": "李四", "M3": "王五", "M4": "赵六"}


@pytest.fixture
def county(loaded_engine: Engine, session: Session) -> Session:
    """开阳县's own scheme of 2015: caps 1,000.00 a year and 50.00 for outpatient care; inpatient
    township 100.00 at 0.80, county 300.00 at 0.70, municipal 600.00 at 0.50 less 0.10 without a
    referral; outpatient township 0.00 at 0.40, at most 30.00 a visit (no village terms).
    Four members enrolled in 2014 and 2015; financing 3,500.00 in 2014, 4,000.00 in 2015."""
    session.add(CompensationScheme(county_code="520121", year=2015, annual_cap=D("1000.00"),
                                   outpatient_annual_cap=D("50.00"), referral_required=True, levels=[
        SchemeLevel(kind=INPATIENT, level=TOWNSHIP, deductible=D("100.00"), ratio=D("0.80")),
        SchemeLevel(kind=INPATIENT, level=COUNTY, deductible=D("300.00"), ratio=D("0.70")),
        SchemeLevel(kind=INPATIENT, level=MUNICIPAL, deductible=D("600.00"), ratio=D("0.50"),
                    unreferred_ratio_cut=D("0.10")),
        SchemeLevel(kind=OUTPATIENT, level=TOWNSHIP, deductible=D("0.00"), ratio=D("0.40"),
                    per_visit_cap=D("30.00"))]))
    for i, (member_no, name) in enumerate(NAMES.items()):
        member = Member(county_code="520121", member_no=member_no, national_id=f"52012119800101{i:03d}1",
                        name=name, sex=Sex.MALE, birth_date=date(1980, 1, 1))
        session.add(member)
        session.flush()
        for year in (2014, 2015):
            session.add(Enrolment(member_id=member.id, county_code="520121", member_no=member_no, year=year,
                                  contribution=D("50.00")))
    session.add_all([FundFinancing(county_code="520121", year=2014, month=1, source=FundingSource.CENTRAL,
                                   amount=D("3500.00")),
                     FundFinancing(county_code="520121", year=2015, month=1, source=FundingSource.CENTRAL,
                                   amount=D("3000.00")),
                     FundFinancing(county_code="520121", year=2015, month=7, source=FundingSource.INDIVIDUAL,
                                   amount=D("1000.00"))])
    place = {lv: session.scalar(sa.select(Institution.id).where(Institution.level == lv).order_by(Institution.id)
                                .limit(1)) for lv in (VILLAGE, TOWNSHIP, COUNTY, MUNICIPAL)}

    def claim(source_id: str, member_no: str, kind: ClaimKind, level: InstitutionLevel, day: str, eligible: str,
              paid: str, referral: bool = True, voided: bool = False, settled: str | None = None) -> None:
        session.add(Claim(county_code="520121", source_id=source_id, kind=kind, member_no=member_no,
                          national_id="520121198001010011", institution_id=place[level],
                          admission_date=date.fromisoformat(day),
                          discharge_date=date.fromisoformat(day) if kind == INPATIENT else None,
                          settlement_date=date.fromisoformat(settled or day), diagnosis_code="J18",
                          total_amount=D(eligible), eligible_amount=D(eligible), compensated_amount=D(paid),
                          referral=referral, voided=voided))

    # 2014: 3,000.00 paid (750.00 a member); a stay of 2014 settled in 2015 (400.00): spent in 2015,
    # no claim of the base year
    claim("Y1", "M1", INPATIENT, COUNTY, "2014-06-01", "4586.00", "3000.00")
    claim("X0", "M2", INPATIENT, TOWNSHIP, "2014-12-20", "600.00", "400.00", settled="2015-01-02")
    # 2015, in settlement order per member; paid as the county's scheme gives, but C (paid as if
    # referred: 1,000.00) and G (village outpatient care, which the scheme has no terms for: 16.00)
    claim("A", "M1", OUTPATIENT, TOWNSHIP, "2015-01-10", "60.00", "24.00")
    claim("B", "M1", OUTPATIENT, TOWNSHIP, "2015-01-20", "100.00", "26.00")
    claim("C", "M1", INPATIENT, MUNICIPAL, "2015-03-01", "2600.00", "1000.00", referral=False)
    claim("D", "M1", INPATIENT, TOWNSHIP, "2015-05-01", "600.00", "150.00")
    claim("E", "M2", INPATIENT, COUNTY, "2015-02-01", "1300.00", "700.00")
    claim("F", "M2", INPATIENT, COUNTY, "2015-06-01", "800.00", "300.00")
    claim("G", "M2", OUTPATIENT, VILLAGE, "2015-07-01", "40.00", "16.00")
    claim("H", "M3", INPATIENT, TOWNSHIP, "2015-04-01", "350.00", "200.00")
    claim("I", "M3", OUTPATIENT, TOWNSHIP, "2015-04-02", "20.00", "8.00")
    claim("J", "M4", INPATIENT, MUNICIPAL, "2015-08-01", "1600.00", "500.00")
    claim("K", "M4", OUTPATIENT, TOWNSHIP, "2015-08-02", "200.00", "30.00")
    claim("L", "M4", INPATIENT, COUNTY, "2015-09-01", "250.00", "0.00")
    claim("V", "M4", INPATIENT, TOWNSHIP, "2015-10-01", "600.00", "400.00", voided=True)  # counts for nothing
    session.flush()
    return session


def test_a_county_computed_by_hand(county: Session) -> None:
    (r,) = simulate(county, ["520121"], 2015, parse_candidates_text(CANDIDATES))
    assert list(r.outcomes) == [CURRENT, A, B]
    assert (r.claims, r.total_cost) == (12, D("7920.00"))  # A-L; 60+100+2600+600+1300+800+40+350+20+1600+200+250
    assert r.paid == D("2954.00")  # 2,738.00 due below, but C 1,000.00 (not 800.00) and G 16.00 (not 0.00)

    cur, a, b = r.outcomes[CURRENT], r.outcomes[A], r.outcomes[B]
    # the county's own scheme, member by member in settlement order:
    #   M1: A 60 x 0.40 = 24.00; B 100 x 0.40 = 40 -> 30.00 a visit -> outpatient cap 50 - 24 left = 26.00;
    #       C (2,600 - 600) x (0.50 - 0.10) = 800.00; D (600 - 100) x 0.80 = 400, 1,000 - 850 left = 150.00
    #   M2: E (1,300 - 300) x 0.70 = 700.00; F (800 - 300) x 0.70 = 350 -> 300.00 left; G no terms: 0.00
    #   M3: H (350 - 100) x 0.80 = 200.00; I 20 x 0.40 = 8.00
    #   M4: J (1,600 - 600) x 0.50 = 500.00 (referred); K 200 x 0.40 = 80 -> 30.00; L under the deductible: 0.00
    assert cur.compensation == D("2738.00")
    assert cur.by_kind_level == {("inpatient", "township"): D("350.00"), ("inpatient", "county"): D("1000.00"),
                                 ("inpatient", "municipal"): D("1300.00"), ("outpatient", "township"): D("88.00"),
                                 ("outpatient", "village"): D("0.00")}
    assert (cur.claims_without_terms, cur.paid_without_terms) == (1, D("16.00"))  # G
    assert cur.members_at_cap == 2  # M1 and M2 reach 1,000.00
    # candidate A (cap 2,000.00, no outpatient cap, cut 0.10 out of the county):
    #   M1: A 30.00; B 50 -> 40.00 a visit; C 2,000 x (0.55 - 0.10) = 900.00; D 500 x 0.90 = 450.00 (1,420.00)
    #   M2: E 1,000 x 0.75 = 750.00; F 500 x 0.75 = 375.00; G no village terms: 0.00 (1,125.00)
    #   M3: H 250 x 0.90 = 225.00; I 10.00 (235.00)    M4: J 1,000 x 0.55 = 550.00; K 100 -> 40.00; L 0 (590.00)
    assert a.compensation == D("3370.00")
    assert a.by_kind_level == {("inpatient", "township"): D("675.00"), ("inpatient", "county"): D("1125.00"),
                               ("inpatient", "municipal"): D("1450.00"), ("outpatient", "township"): D("120.00"),
                               ("outpatient", "village"): D("0.00")}
    assert (a.claims_without_terms, a.members_at_cap) == (1, 0)
    # candidate B (cap 800.00, outpatient 40.00, no referral required, village outpatient terms):
    #   M1: A 24.00; B 30 a visit, outpatient cap 40 - 24 left = 16.00; C (2,600 - 800) x 0.45 = 810,
    #       800 - 40 left = 760.00; D (600 - 200) x 0.85 = 340, nothing left: 0.00 (800.00)
    #   M2: E (1,300 - 400) x 0.65 = 585.00; F 400 x 0.65 = 260 -> 215.00 left; G 20 -> 10.00 a visit,
    #       nothing left of 800: 0.00 (800.00)
    #   M3: H 150 x 0.85 = 127.50; I 8.00 (135.50)    M4: J 800 x 0.45 = 360.00; K 30.00; L 0 (390.00)
    assert b.compensation == D("2125.50")
    assert b.by_kind_level == {("inpatient", "township"): D("127.50"), ("inpatient", "county"): D("800.00"),
                               ("inpatient", "municipal"): D("1120.00"), ("outpatient", "township"): D("78.00"),
                               ("outpatient", "village"): D("0.00")}
    assert (b.claims_without_terms, b.paid_without_terms, b.members_at_cap) == (0, D("0.00"), 2)

    # actual compensation ratio of stays by level: compensation / total (township 950, county 2,350,
    # municipal 4,200; all stays 7,500)
    assert cur.actual_ratio_by_level == {"township": D("0.3684"), "county": D("0.4255"), "municipal": D("0.3095")}
    assert a.actual_ratio_by_level == {"township": D("0.7105"), "county": D("0.4787"), "municipal": D("0.3452")}
    assert b.actual_ratio_by_level == {"township": D("0.1342"), "county": D("0.3404"), "municipal": D("0.2667")}
    assert (cur.actual_ratio_inpatient, a.actual_ratio_inpatient, b.actual_ratio_inpatient) == (
        D("0.3533"), D("0.4333"), D("0.2730"))  # 2,650 / 7,500; 3,250 / 7,500; 2,047.50 / 7,500

    # the fund: 4 members, 4,000.00 raised in 2015: 1,000.00 a head, 4,000.00 next year. Spent
    # (settled): 3,000.00 in 2014, 2,954.00 + 400.00 (X0) = 3,354.00 in 2015; carried at the end of
    # 2015: 3,500 + 4,000 - 3,000 - 3,354 = 1,146.00. Growth: 750.00 -> 838.50 a member = 0.1180
    assert (r.members_enrolled, r.financing, r.per_head_financing, r.next_financing) == (
        4, D("4000.00"), D("1000.00"), D("4000.00"))
    assert (r.carried, r.growth) == (D("1146.00"), D("0.1180"))
    assert "750.00 -> 838.50" in r.growth_basis
    # current: 2,738.00 x 1.118 = 3,061.08; surplus 938.92 (0.2347); cumulative 2,084.92 (0.5212)
    assert (cur.projected_expenditure, cur.fund_usage_rate, cur.surplus, cur.surplus_rate) == (
        D("3061.08"), D("0.7653"), D("938.92"), D("0.2347"))
    assert (cur.cumulative_surplus, cur.cumulative_surplus_rate) == (D("2084.92"), D("0.5212"))
    assert [(c.code, c.passed) for c in cur.checks] == [("surplus", False), ("cumulative_surplus", False),
                                                        ("deficit", True)]
    assert [c.threshold for c in cur.checks] == [D("0.15"), D("0.25"), D("0")]
    # A: 3,370.00 x 1.118 = 3,767.66; surplus 232.34 (0.0581); cumulative 1,378.34 (0.3446)
    assert (a.projected_expenditure, a.fund_usage_rate, a.surplus_rate, a.cumulative_surplus_rate) == (
        D("3767.66"), D("0.9419"), D("0.0581"), D("0.3446"))
    assert [c.passed for c in a.checks] == [True, False, True]
    # B: 2,125.50 x 1.118 = 2,376.309 -> 2,376.31; surplus 1,623.69 (0.4059); cumulative 2,769.69 (0.6924)
    assert (b.projected_expenditure, b.surplus, b.surplus_rate, b.cumulative_surplus_rate) == (
        D("2376.31"), D("1623.69"), D("0.4059"), D("0.6924"))
    assert [c.passed for c in b.checks] == [False, False, True]

    # most affected: the largest change from the current scheme, under either candidate:
    # M1 420.00 (A), M2 200.00 (B), M4 140.00 (B), M3 72.50 (B); names masked
    assert [(m.member_no, m.name) for m in r.affected] == [("M1", "张*"), ("M2", "李*"), ("M4", "赵*"), ("M3", "王*")]
    assert r.affected[0].due == {CURRENT: D("1000.00"), A: D("1420.00"), B: D("800.00")}
    assert r.affected[0].paid == D("1200.00")  # 24 + 26 + 1,000 + 150


def test_one_candidate_alone_gives_what_it_gives_beside_another(county: Session) -> None:
    """Candidate A simulated alone: the county's scheme and A as beside B above (members at the
    cap: M1 and M2 under the county's; most affected by A: M1 1,000.00 -> 1,420.00, M2 1,000.00 ->
    1,125.00, M4 530.00 -> 590.00, M3 208.00 -> 235.00). On SQLite one candidate's change was max() of one argument, the aggregate, and made
    the members one row."""
    (r,) = simulate(county, ["520121"], 2015, parse_candidates_text(CANDIDATES)[:1])
    cur, a = r.outcomes[CURRENT], r.outcomes[A]
    assert (cur.compensation, cur.members_at_cap, a.compensation, a.members_at_cap) == (
        D("2738.00"), 2, D("3370.00"), 0)
    assert [(m.member_no, m.due[A] - m.due[CURRENT]) for m in r.affected] == [
        ("M1", D("420.00")), ("M2", D("125.00")), ("M4", D("60.00")), ("M3", D("27.00"))]


def test_financing_and_growth_given(county: Session) -> None:
    """800.00 a head, no growth: 3,200.00 next year; A spends 3,370.00, a deficit of 170.00
    (surplus rate -0.0531, not above 0.15: that rule passes), cumulative 1,146 - 170 = 976.00 (0.3050)."""
    (r,) = simulate(county, ["520121"], 2015, parse_candidates_text(CANDIDATES)[:1],
                    per_head_financing=D("800.00"), growth=D("0"))
    a = r.outcomes[A]
    assert (r.next_financing, r.growth, r.growth_basis) == (D("3200.00"), D("0"), "given")
    assert (a.surplus, a.surplus_rate, a.cumulative_surplus, a.cumulative_surplus_rate) == (
        D("-170.00"), D("-0.0531"), D("976.00"), D("0.3050"))
    assert [(c.code, c.passed, c.figure) for c in a.checks] == [
        ("surplus", True, D("-0.0531")), ("cumulative_surplus", False, D("0.3050")), ("deficit", False, D("-170.00"))]


def test_one_year_only_grows_nothing_and_says_so(county: Session) -> None:
    county.execute(sa.delete(Enrolment).where(Enrolment.year == 2014))
    (r,) = simulate(county, ["520121"], 2015, [])
    assert r.growth == 0 and "one year only" in r.growth_basis
    assert r.affected == []  # nothing to compare with


def test_candidate_files_are_checked_as_schemes_yaml_is(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(CANDIDATES.replace('ratio: "0.45"', 'ratio: "1.45"'), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^bad\.yaml:12: candidates\[1\] \(门诊统筹\): inpatient\.municipal\.ratio "
                                          r"must be in \(0, 1\]"):
        read_candidates(bad)
    bad.write_text(CANDIDATES.replace("village:", "clinic:"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml:12: .*clinic.* is not allowed; allowed: village"):
        read_candidates(bad)
    bad.write_text(CANDIDATES.replace("  - name: 门诊统筹\n", "  - name: 提高住院比例\n"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.yaml:12: candidates\[1\]\.name: '提高住院比例' is named twice"):
        read_candidates(bad)
    with pytest.raises(ConfigError, match=r"candidates\.yaml:2: candidate\.name: is missing"):
        parse_candidates_text('\nannual_cap: "1000.00"\n')
    # one candidate alone, without the list
    (one,) = parse_candidates_text('name: 单一方案\nannual_cap: "1000.00"\ninpatient:\n'
                                   '  county: {deductible: "300.00", ratio: "0.70"}\n')
    assert one.name == "单一方案" and one.scheme.annual_cap == D("1000.00") and len(one.scheme.terms) == 1
    assert [c.name for c in read_candidates(EXAMPLE)]  # the example shipped in config/ reads


def test_the_command_prints_the_comparison(county: Session, cli,  # type: ignore[no-untyped-def]
                                           tmp_path: Path) -> None:
    county.commit()
    file = tmp_path / "candidates.yaml"
    file.write_text(CANDIDATES, encoding="utf-8")
    args = ("scheme", "simulate", "--county", "520121", "--base-year", "2015", str(file))
    table = cli(*args)
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    assert any(line.startswith("Compensation of the base year's claims") and line.split()[-3:] == [
        "2,738.00", "3,370.00", "2,125.50"] for line in lines), table.output
    assert any(line.startswith("Cumulative surplus at most 25%") and line.split()[-6:] == [
        "FAIL", "52.12%", "FAIL", "34.46%", "FAIL", "69.24%"] for line in lines), table.output
    assert "M1 张* paid 1,200.00" in table.output and "张三" not in table.output
    given = cli(*args, "--format", "json", "--per-head", "800", "--growth", "0%")
    import json

    (r,) = json.loads(given.output)
    assert r["next_financing"] == "3200" or Decimal(r["next_financing"]) == D("3200.00")
    assert r["schemes"][A]["check_deficit"] == {"passed": False, "figure": "-170.00", "threshold": "0"}
    rows = cli(*args, "--format", "csv").output.splitlines()
    assert rows[0] == f"county,figure,unit,{CURRENT},{A},{B}"
    assert "520121,members_at_cap,count,2,0,2" in rows
    bad = cli("scheme", "simulate", "--base-year", "2015", str(tmp_path / "missing.yaml"))
    assert bad.exit_code != 0
    wrong = cli(*args, "--growth", "lots")
    assert wrong.exit_code == 1 and "--growth: 'lots' is not a number" in wrong.output
