"""The indicators (docs/indicators.md) against a tiny province written row by row, every figure
worked out by hand in the comments; the province recomputed from the counties' sums; periods;
the summary tables kept by ingestion and monitoring equal to a rebuild from scratch."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ncms.db import session_scope
from ncms.indicators import (Period, PeriodError, as_row, data_status, indicators, monthly_series, rebuild,
                             refresh_batch, refresh_findings, refresh_summaries, stake_by_rule, top_institutions)
from ncms.ingest import ingest_package
from ncms.models import (Claim, ClaimKind, County, CountyMonth, CountyYear, DeploymentMode, Enrolment, Finding,
                         FindingMonth, FindingStatus, FundFinancing, FundingSource, Household, Institution,
                         InstitutionLevel, Member, Severity, Sex)

from .packages import COUNTY, basic, claim, items, member, package

D = Decimal
A, B = "520121", "520122"
T1, H2, C3, T4 = 1, 2, 3, 4  # institutions: A's township centre and county hospital, a city hospital, B's centre


# -- periods ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, kind, months, start, end", [
    ("2011", "year", 12, date(2011, 1, 1), date(2011, 12, 31)),
    ("2011-Q3", "quarter", 3, date(2011, 7, 1), date(2011, 9, 30)),
    ("2012-q1", "quarter", 3, date(2012, 1, 1), date(2012, 3, 31)),
    ("2011-07", "month", 1, date(2011, 7, 1), date(2011, 7, 31)),
    ("2012-2", "month", 1, date(2012, 2, 1), date(2012, 2, 29)),
])
def test_a_period_parses_from_its_label(text, kind, months, start, end) -> None:  # type: ignore[no-untyped-def]
    period = Period.parse(text)
    assert (period.kind, len(period.months), period.start, period.end) == (kind, months, start, end)
    assert Period.parse(period.label) == period


@pytest.mark.parametrize("text", ["", "11", "2011-Q5", "2011-13", "2011-00", "2011/07", "July"])
def test_a_period_that_is_none_says_what_is_allowed(text) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PeriodError, match=r"a quarter \(2011-Q3\)"):
        Period.parse(text)


def test_the_period_of_a_day() -> None:
    assert Period.of_day(date(2011, 8, 31), "quarter") == Period("quarter", 2011, 3)
    assert Period.of_day(date(2011, 8, 31)).label == "2011-08"


# -- a province of two counties, row by row --------------------------------------------------

def _province(session) -> None:  # type: ignore[no-untyped-def]
    session.add_all([
        County(code=A, name="开阳县", prefecture_code="5201", mode=DeploymentMode.ETL, agricultural_population=1000),
        County(code=B, name="息烽县", prefecture_code="5201", mode=DeploymentMode.GATEWAY, agricultural_population=500),
        Institution(id=T1, code="520121200001", name="T1", level=InstitutionLevel.TOWNSHIP, area_code=A),
        Institution(id=H2, code="520121300001", name="H2", level=InstitutionLevel.COUNTY, area_code=A),
        Institution(id=C3, code="520100400001", name="C3", level=InstitutionLevel.MUNICIPAL, area_code="520100"),
        Institution(id=T4, code="520122200001", name="T4", level=InstitutionLevel.TOWNSHIP, area_code=B),
    ])
    session.flush()
    # households: A's H1 (M1, M2), H2 (M3), H3 (M4); B's G1 (N1)
    for n, (county, no) in enumerate([(A, "H1"), (A, "H2"), (A, "H3"), (B, "G1")], 1):
        session.add(Household(id=n, county_code=county, household_no=no))
    people = [(A, "M1", 1, 2011), (A, "M2", 1, 2011), (A, "M3", 2, 2011), (A, "M4", 3, 2010), (B, "N1", 4, 2011)]
    for n, (county, no, household, year) in enumerate(people, 1):
        session.add(Member(id=n, county_code=county, member_no=no, household_id=household, sex=Sex.FEMALE,
                           national_id=f"52012119800101{n:03d}X", name=no, birth_date=date(1980, 1, 1)))
        session.add(Enrolment(member_id=n, county_code=county, member_no=no, year=year, contribution=D("30.00")))
    claims = [
        # id, county, kind, member, institution, admitted, discharged, settled, total, eligible, paid
        (1, A, "out", "M1", T1, "2011-01-10", None, "2011-01-10", "100.00", "80.00", "40.00"),
        (2, A, "in", "M2", H2, "2011-02-01", "2011-02-06", "2011-02-07", "5000.00", "4000.00", "2400.00"),
        # admitted in March, settled in April: the settlement date decides (Q2), out of the county
        (3, A, "in", "M3", C3, "2011-03-28", "2011-04-02", "2011-04-05", "10000.00", "8000.00", "4000.00"),
        (4, A, "out", "M1", T1, "2011-07-15", None, "2011-07-15", "60.00", "60.00", "0.00"),  # nothing paid
        (5, A, "in", "M2", H2, "2011-08-01", "2011-08-01", "2011-08-02", "1000.00", "1000.00", "600.00"),  # 1 day
        (6, A, "out", "M3", T1, "2011-02-10", None, "2011-02-10", "500.00", "500.00", "200.00"),  # voided
        (7, A, "in", "M4", H2, "2010-12-01", "2010-12-11", "2010-12-20", "2000.00", "2000.00", "1500.00"),
        (8, B, "in", "N1", T4, "2011-05-03", "2011-05-07", "2011-05-08", "3000.00", "2500.00", "1500.00"),
        (9, B, "out", "N1", T4, "2011-05-20", None, "2011-05-20", "50.00", "50.00", "25.00"),
    ]
    for cid, county, kind, no, institution, admitted, discharged, settled, total, eligible, paid in claims:
        session.add(Claim(
            id=cid, county_code=county, source_id=f"C{cid}", member_no=no, national_id="52012119800101001X",
            kind=ClaimKind.INPATIENT if kind == "in" else ClaimKind.OUTPATIENT, institution_id=institution,
            admission_date=date.fromisoformat(admitted),
            discharge_date=date.fromisoformat(discharged) if discharged else None,
            settlement_date=date.fromisoformat(settled), diagnosis_code="J18.9", total_amount=D(total),
            eligible_amount=D(eligible), compensated_amount=D(paid), voided=cid == 6))
    financing = [(A, 2010, 1, "central", "5000.00"), (A, 2011, 1, "individual", "90.00"),
                 (A, 2011, 1, "central", "6000.00"), (A, 2011, 3, "provincial", "2000.00"),
                 (A, 2011, 9, "local", "1000.00"), (B, 2011, 2, "central", "3000.00"),
                 (B, 2011, 2, "individual", "30.00")]
    for county, year, month, source, amount in financing:
        session.add(FundFinancing(county_code=county, year=year, month=month, source=FundingSource(source),
                                  amount=D(amount)))
    session.flush()
    findings = [
        # rule, county, claim, institution, amount, status, period
        ("duplicate_claim", A, 2, H2, "2400.00", "open", "2011-02-01", "2011-02-06"),
        ("overpayment", A, 2, H2, "300.00", "open", "2011-02-01", "2011-02-06"),  # the copy explains claim 2: 0
        ("over_standard_price", A, 3, C3, "500.00", "confirmed", "2011-03-28", "2011-04-02"),  # March
        ("ghost_stay", A, 5, H2, "600.00", "dismissed", "2011-08-01", "2011-08-01"),  # no money at stake
        ("fund_overspend", A, None, None, "1234.00", "open", "2011-01-01", "2011-12-31"),  # a warning, apart
        ("duplicate_claim", B, 8, T4, "1500.00", "open", "2011-05-03", "2011-05-07"),
    ]
    for rule, county, cid, institution, amount, status, start, end in findings:
        key = f"claim:{county}:{cid}" if cid else f"fund:{county}:2011"
        session.add(Finding(rule_code=rule, rule_version="1", subject_key=key, county_code=county, claim_id=cid,
                            institution_id=institution, severity=Severity.SUSPICIOUS, status=FindingStatus(status),
                            amount_at_stake=D(amount), period_start=date.fromisoformat(start),
                            period_end=date.fromisoformat(end),
                            evidence={"projected": "10324.00"} if cid is None else None))
    session.flush()
    rebuild(session)


@pytest.fixture
def province(session):  # type: ignore[no-untyped-def]
    _province(session)
    return session


def _by_county(session, text):  # type: ignore[no-untyped-def]
    table = indicators(session, Period.parse(text))
    return {row.county_codes[0]: row for row in table.counties}, table.total


def test_enrolment_and_benefit_of_a_county_year(province) -> None:  # type: ignore[no-untyped-def]
    a = _by_county(province, "2011")[0][A]
    # M1, M2, M3 enrolled for 2011 (M4 for 2010 only), in H1 and H2; 30.00 each
    assert (a.members, a.households, a.contributions) == (3, 2, D("90.00"))
    assert a.participation_rate == D("0.0030")  # 3 / 1,000
    # claims 1-5 settled in 2011 (6 voided, 7 of 2010): visits 1 and 4, stays 2, 3 and 5
    assert (a.outpatient.claims, a.inpatient.claims) == (2, 3)
    assert a.claims().compensated_claims == 4  # visit 4 was paid nothing
    assert a.benefit_rate == D("1.3333")  # 4 compensated visits / 3 members
    assert a.hospitalisation_rate == D("1.0000")  # 3 stays / 3 members


def test_expenditure_and_cost_of_a_county_year(province) -> None:  # type: ignore[no-untyped-def]
    a = _by_county(province, "2011")[0][A]
    # 40 + 2,400 + 4,000 + 0 + 600; inpatient 7,000, outpatient 40
    assert (a.compensation, a.inpatient.compensated_amount, a.outpatient.compensated_amount) == (
        D("7040.00"), D("7000.00"), D("40.00"))
    # total 100 + 5,000 + 10,000 + 60 + 1,000 = 16,160; within policy 80 + 4,000 + 8,000 + 60 + 1,000 = 13,140
    assert (a.claims().total_amount, a.claims().eligible_amount, a.claims().out_of_pocket) == (
        D("16160.00"), D("13140.00"), D("9120.00"))
    assert a.inpatient.cost_per_claim == D("5333.33")  # 16,000 / 3
    assert a.inpatient.compensation_per_claim == D("2333.33")  # 7,000 / 3
    assert a.inpatient.average_stay == D("3.67")  # (5 + 5 + 1 bed days) / 3: a day's stay counts 1
    assert a.outpatient.cost_per_claim == D("80.00")  # 160 / 2
    assert a.claims().actual_compensation_ratio == D("0.4356")  # 7,040 / 16,160 = 0.43564
    assert a.inpatient.actual_compensation_ratio == D("0.4375")  # 7,000 / 16,000
    assert a.claims().policy_reimbursement_ratio == D("0.5358")  # 7,040 / 13,140 = 0.53577
    assert a.inpatient.policy_reimbursement_ratio == D("0.5385")  # 7,000 / 13,000 = 0.53846
    assert a.inpatient.out_of_county_share == D("0.3333")  # stay 3 at the city hospital, of 3
    assert a.inpatient.referred == 0 and a.claims(ClaimKind.INPATIENT, InstitutionLevel.MUNICIPAL).claims == 1
    county_level = a.claims(ClaimKind.INPATIENT, InstitutionLevel.COUNTY)
    assert (county_level.claims, county_level.cost_per_claim, county_level.actual_compensation_ratio) == (
        2, D("3000.00"), D("0.5000"))  # stays 2 and 5: 6,000 cost, 3,000 paid


def test_financing_and_the_fund_of_a_county_year(province) -> None:  # type: ignore[no-untyped-def]
    a = _by_county(province, "2011")[0][A]
    assert a.financing == {FundingSource.INDIVIDUAL: D("90.00"), FundingSource.CENTRAL: D("6000.00"),
                           FundingSource.PROVINCIAL: D("2000.00"), FundingSource.LOCAL: D("1000.00")}
    assert a.year_financing == a.financing_total == D("9090.00")
    assert (a.paid_to_date, a.months_reached) == (D("7040.00"), 8)  # the last claim settled in August
    assert a.fund_usage_rate == D("0.7745")  # 7,040 / 9,090 = 0.77448
    assert a.elapsed_share == D("0.6667")  # 8 / 12
    assert a.surplus_rate == D("0.2255")  # (9,090 - 7,040) / 9,090 = 0.22552
    # raised 5,000 (2010) + 9,090, paid 1,500 (2010) + 7,040: 5,550 carried; / 9,090 = 0.61056
    assert (a.cumulative_balance, a.cumulative_surplus_rate) == (D("5550.00"), D("0.6106"))
    # the warning is the monitor's finding, read: not judged again
    assert a.warning_state == "deficit"
    assert [(w.rule_code, w.amount, w.projected) for w in a.warnings] == [
        ("fund_overspend", D("1234.00"), D("10324.00"))]


def test_supervision_of_a_county_year(province) -> None:  # type: ignore[no-untyped-def]
    a = _by_county(province, "2011")[0][A]
    # four findings about 2011 care (the fund warning is not one of them): two open, one
    # confirmed, one dismissed; money at stake: claim 2 once (2,400, its overpayment explained by
    # the copy) + 500 confirmed; the dismissed stay none
    assert (a.findings, a.undecided, a.confirmed, a.dismissed) == (4, 2, 1, 1)
    assert (a.money_at_stake, a.confirmed_money) == (D("2900.00"), D("500.00"))


def test_the_province_is_recomputed_from_the_counties_sums(province) -> None:  # type: ignore[no-untyped-def]
    counties, total = _by_county(province, "2011")
    b = counties[B]
    # B: 1 member of 500; a stay (3,000; 1,500 paid) and a visit (50; 25 paid) in May; 3,030 raised
    assert (b.members, b.participation_rate, b.compensation, b.fund_usage_rate) == (
        1, D("0.0020"), D("1525.00"), D("0.5033"))  # 1,525 / 3,030 = 0.50330
    assert b.warning_state == "none" and b.money_at_stake == D("1500.00")
    assert total.county_codes == (A, B)
    assert total.participation_rate == D("0.0027")  # 4 / 1,500, not the mean of 0.0030 and 0.0020
    assert total.compensation == D("8565.00")  # 7,040 + 1,525
    assert total.fund_usage_rate == D("0.7067")  # 8,565 / 12,120 = 0.70668
    assert total.inpatient.cost_per_claim == D("4750.00")  # (16,000 + 3,000) / 4 stays
    assert total.claims().actual_compensation_ratio == D("0.4459")  # 8,565 / 19,210 = 0.44586
    assert total.benefit_rate == D("1.5000")  # 6 compensated visits / 4 members
    assert total.months_reached == 8 and total.money_at_stake == D("4400.00")
    row = as_row(total)
    for name, value in as_row(counties[A]).items():
        if isinstance(value, int) and name not in ("agricultural_population",):
            assert row[name] == value + as_row(b)[name], name


def test_a_quarter_and_a_month_take_the_claims_settled_in_them(province) -> None:  # type: ignore[no-untyped-def]
    q2 = _by_county(province, "2011-Q2")[0][A]
    # stay 3, admitted in March, was settled on 5 April
    assert (q2.inpatient.claims, q2.compensation, q2.inpatient.cost_per_claim) == (1, D("4000.00"), D("10000.00"))
    assert q2.inpatient.out_of_county_share == D("1.0000") and q2.financing_total == D("0.00")
    # the fund to the end of June: 40 + 2,400 + 4,000 paid of 9,090 for the year; April the last month reached
    assert (q2.paid_to_date, q2.fund_usage_rate, q2.elapsed_share) == (D("6440.00"), D("0.7085"), D("0.3333"))
    assert q2.findings == 0  # the finding on stay 3 is about March's care
    q1 = _by_county(province, "2011-Q1")[0][A]
    assert (q1.findings, q1.money_at_stake) == (3, D("2900.00"))
    february = _by_county(province, "2011-02")[0][A]
    assert (february.inpatient.claims, february.outpatient.claims, february.compensation) == (1, 0, D("2400.00"))
    assert (february.paid_to_date, february.months_reached) == (D("2440.00"), 2)
    earlier = _by_county(province, "2010")[0][A]
    assert (earlier.members, earlier.households, earlier.compensation, earlier.year_financing) == (
        1, 1, D("1500.00"), D("5000.00"))
    assert earlier.fund_usage_rate == D("0.3000") and earlier.warning_state == "none"


def test_the_start_pages_charts(province) -> None:  # type: ignore[no-untyped-def]
    series = {s.county_code: s for s in monthly_series(province, 2011)}
    assert series[A].compensation[:8] == [D("40.00"), D("2400.00"), D("0.00"), D("4000.00"), D("0.00"), D("0.00"),
                                          D("0.00"), D("600.00")]
    assert series[A].financing[0] == D("6090.00") and series[A].financing[8] == D("1000.00")
    assert series[None].compensation[4] == D("1525.00")  # B's May
    year = Period.parse("2011")
    rules = {r.rule_code: (r.findings, r.money_at_stake) for r in stake_by_rule(province, year)}
    assert rules == {"duplicate_claim": (2, D("3900.00")), "over_standard_price": (1, D("500.00")),
                     "overpayment": (1, D("0.00")), "ghost_stay": (1, D("0.00"))}
    top = [(i.code, i.findings, i.money_at_stake) for i in top_institutions(province, year, limit=2)]
    assert top == [("520121300001", 3, D("2400.00")), ("520122200001", 1, D("1500.00"))]
    # a county officer's view: B's alone
    assert [r.rule_code for r in stake_by_rule(province, year, [B])] == ["duplicate_claim"]
    assert indicators(province, year, [B]).total.compensation == D("1525.00")
    assert data_status(province, [A], today=date(2011, 9, 1))[A].describe() == "nothing received"


# -- kept by ingestion and monitoring ---------------------------------------------------------

def _snapshot(engine) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def, type-arg]
    with session_scope(engine) as s:
        return {table.__tablename__: sorted(
            tuple(str(getattr(row, c.key)) for c in table.__table__.columns if c.key not in ("id", "computed_at"))
            for row in s.scalars(sa.select(table))) for table in (CountyMonth, CountyYear, FindingMonth)}


def _rebuilt(engine) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def, type-arg]
    with session_scope(engine) as s:
        rebuild(s)
    return _snapshot(engine)


def test_a_batch_load_refreshes_what_it_touched(loaded_engine, settings, tmp_path
                                                ) -> None:  # type: ignore[no-untyped-def]
    settings.ensure_dirs()
    first = ingest_package(loaded_engine, settings, basic(tmp_path / "p1.zip"), today=date(2011, 9, 1))
    assert first.status.value == "loaded", first.error
    kept = _snapshot(loaded_engine)
    assert kept["county_month_summary"], "the load refreshed nothing"
    assert kept == _rebuilt(loaded_engine)
    with session_scope(loaded_engine) as s:
        march = indicators(s, Period.parse("2011-03"), [COUNTY]).total
    # basic(): C1 (30.00, 12.00 paid) and C2 (45.50, 12.00 paid), both stays settled 6 March
    assert (march.inpatient.claims, march.compensation, march.members) == (2, D("24.00"), 2)

    # a second batch: a new stay in May, C2's amount corrected, C1 settled again in June (moved)
    second = package(tmp_path / "p2.zip", seq=2, claims=[
        claim("C1", discharge_date="2011-03-05", settlement_date="2011-06-10"),
        claim("C2", member_no="M2", total_amount="45.50", eligible_amount="40.00", compensated_amount="20.00"),
        claim("C3", admission_date="2011-05-01", discharge_date="2011-05-03", settlement_date="2011-05-04")],
        claim_items=items("C1", "17.00", "13.00") + items("C2", "45.50") + items("C3", "30.00"))
    second_batch = ingest_package(loaded_engine, settings, second, today=date(2011, 9, 1))
    assert second_batch.status.value == "loaded", second_batch.error
    kept = _snapshot(loaded_engine)
    assert kept == _rebuilt(loaded_engine)
    with session_scope(loaded_engine) as s:
        months = {m: indicators(s, Period("month", 2011, m), [COUNTY]).total for m in (3, 5, 6)}
    assert [(m, f.inpatient.claims, f.compensation) for m, f in months.items()] == [
        (3, 1, D("20.00")), (5, 1, D("12.00")), (6, 1, D("12.00"))]

    # the same package again (refused: already loaded) and the batch refreshed again change nothing
    again = ingest_package(loaded_engine, settings, tmp_path / "p2.zip", today=date(2011, 9, 1))
    assert again.error_code == "already_loaded"
    with session_scope(loaded_engine) as s:
        assert refresh_batch(s, second_batch.batch_id).county_code == COUNTY
    assert _snapshot(loaded_engine) == kept


def test_a_batch_refreshes_the_months_and_years_its_loader_names(loaded_engine, settings, tmp_path
                                                                 ) -> None:  # type: ignore[no-untyped-def]
    settings.ensure_dirs()
    batch = ingest_package(loaded_engine, settings, basic(tmp_path / "p1.zip"), today=date(2011, 9, 1)).batch_id
    kept = _snapshot(loaded_engine)
    with session_scope(loaded_engine) as s:  # the summaries lost; the loader named nothing: nothing is read back
        s.execute(sa.delete(CountyMonth))
        s.execute(sa.delete(CountyYear))
        done = refresh_batch(s, batch, months=[], years=[])
        assert done.months == [] and s.scalar(sa.select(sa.func.count()).select_from(CountyMonth)) == 0
        # basic(): both stays settled 6 March, both enrolments of 2011
        done = refresh_batch(s, batch, months=[(2011, 3)], years=[2011])
    assert (done.months, done.years, done.whole) == ([(2011, 3)], [2011], False)
    assert _snapshot(loaded_engine) == kept


def test_a_member_moved_to_another_household_refreshes_the_years_of_its_enrolments(
        loaded_engine, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.ensure_dirs()
    enrolled = [dict(member_no=m, year=y, contribution="30.00", enrolled_on=None)
                for m in ("M1", "M2") for y in ("2010", "2011")]
    ingest_package(loaded_engine, settings, basic(tmp_path / "p1.zip", enrolments=enrolled), today=date(2011, 9, 1))

    def households() -> dict[int, int]:
        with session_scope(loaded_engine) as s:
            return {y: n for y, n in s.execute(sa.select(CountyYear.year, CountyYear.households))}

    assert households() == {2010: 1, 2011: 1}  # M1 and M2 of household HM1
    # M2 moves to a household of its own; the batch has no enrolment, M1 is sent unchanged
    moved = package(tmp_path / "p2.zip", seq=2, members=[member("M1"), member("M2", household_no="HM2")])
    assert ingest_package(loaded_engine, settings, moved, today=date(2011, 9, 1)).status.value == "loaded"
    assert households() == {2010: 2, 2011: 2}
    assert _snapshot(loaded_engine) == _rebuilt(loaded_engine)


def test_a_claim_moved_out_of_a_month_not_refreshed_recomputes_the_county(loaded_engine, settings, tmp_path
                                                                          ) -> None:  # type: ignore[no-untyped-def]
    settings.ensure_dirs()
    ingest_package(loaded_engine, settings, basic(tmp_path / "p1.zip"), today=date(2011, 9, 1))
    with session_scope(loaded_engine) as s:  # C2 settled in June instead of March, behind the summaries' back
        s.execute(sa.update(Claim).where(Claim.source_id == "C2").values(settlement_date=date(2011, 6, 10)))
        done = refresh_summaries(s, COUNTY, months=[(2011, 6)])
    assert (done.months, done.whole) == ([(2011, 6)], True)  # March still counted C2: the county recomputed
    kept = _snapshot(loaded_engine)
    assert kept == _rebuilt(loaded_engine)
    with session_scope(loaded_engine) as s:
        assert refresh_summaries(s, COUNTY, months=[(2011, 6)]).whole is False
        march = indicators(s, Period.parse("2011-03"), [COUNTY]).total
    assert march.inpatient.claims == 1


def test_a_monitor_run_refreshes_the_findings_money_counted_once(loaded_engine, settings, tmp_path
                                                                 ) -> None:  # type: ignore[no-untyped-def]
    from ncms.monitor import run_monitor
    from ncms.monitor.stake import money_at_stake

    settings.ensure_dirs()
    copy = dict(claim("C1"), claim_id="C9", settlement_date="2011-03-20")  # C1 billed twice
    ingest_package(loaded_engine, settings, basic(tmp_path / "p.zip", claims=[claim("C1"), copy],
                                                  claim_items=items("C1", "17.00", "13.00") + items("C9", "17.00",
                                                                                                     "13.00")),
                   today=date(2011, 9, 1))
    result = run_monitor(loaded_engine, settings, counties=[COUNTY])
    assert result.stake.total > 0
    kept = _snapshot(loaded_engine)
    with session_scope(loaded_engine) as s:
        assert sum(r.money_at_stake for r in s.scalars(sa.select(FindingMonth))) == \
            money_at_stake(s.connection()).total
        year = indicators(s, Period.parse("2011"), [COUNTY]).total
        assert year.money_at_stake == money_at_stake(s.connection()).per_county[COUNTY]
        assert refresh_findings(s) == len(kept["finding_month_summary"])
    assert _snapshot(loaded_engine) == kept == _rebuilt(loaded_engine)


# -- the command -----------------------------------------------------------------------------

def test_the_command_prints_what_the_module_computes(cli, loaded_engine, settings, tmp_path
                                                     ) -> None:  # type: ignore[no-untyped-def]
    import json

    settings.ensure_dirs()
    ingest_package(loaded_engine, settings, basic(tmp_path / "p.zip"), today=date(2011, 9, 1))
    done = cli("indicators", "show", "--period", "2011-Q1", "--format", "json")
    assert done.exit_code == 0, done.output
    rows = {row["county"]: row for row in json.loads(done.output)}
    with session_scope(loaded_engine) as s:
        table = indicators(s, Period.parse("2011-Q1"))
    assert rows["total"] == json.loads(json.dumps(as_row(table.total), default=str))
    assert rows[COUNTY]["compensation"] == "24.00" and rows[COUNTY]["stays"] == 2
    csv_out = cli("indicators", "show", "--county", COUNTY, "--format", "csv").output.splitlines()
    assert csv_out[0].startswith("period,county,name,members") and csv_out[1].startswith(f"2011,{COUNTY},")
    shown = cli("indicators", "show", "--county", COUNTY, "--period", "2011-03").output
    assert "participation_rate" in shown and "2011-03" in shown
    refused = cli("indicators", "show", "--period", "2011-Q5")
    assert refused.exit_code == 2 and "a quarter (2011-Q3)" in refused.output
    assert "refreshed 6 county(ies)" in cli("indicators", "refresh").output


def test_the_command_imports_no_data_frame_nor_model(settings, loaded_engine) -> None:  # type: ignore[no-untyped-def]
    from .test_startup import NEVER, ncms

    base = ["--data-dir", str(settings.data_dir), "--database-url", settings.database_url,
            "--config-dir", str(settings.config_dir)]
    done, imported = ncms(*base, "indicators", "show", "--period", "2011")
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert sorted(imported & {*NEVER, "polars", "pyarrow"}) == []
