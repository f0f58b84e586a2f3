"""The content of a ministry report (reports/content.py) against the two-county province of
tests/test_indicators.py, with the review loop's fields and a few packages added: every figure
of the annual 2011 report worked out by hand in the comments, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from ncms.indicators import Period
from ncms.indicators.supervision import supervision
from ncms.models import Batch, BatchSource, BatchStatus, Finding
from ncms.reference import read_province
from reports.content import COLUMN_KINDS, build_content

from .conftest import CONFIG_DIR
from .test_indicators import A, B, _province

D = Decimal
N = None
PROVINCE = "520000"
PUSHED = datetime(2011, 9, 1, tzinfo=timezone.utc)


def review_and_packages(session) -> None:  # type: ignore[no-untyped-def]
    """The findings' review: A's price finding pushed, determined, 500 to recover, 200 back; A's
    ghost stay pushed then dismissed; B's duplicate pushed, not answered. B's packages: 1 and 3
    loaded (the newest up to October), 2 never came, 4 refused; A sent nothing."""
    review = {("over_standard_price", A): dict(pushed_at=PUSHED, amount_to_recover=D("500.00"),
                                               amount_recovered=D("200.00")),
              ("ghost_stay", A): dict(pushed_at=PUSHED), ("duplicate_claim", B): dict(pushed_at=PUSHED)}
    for (rule, county), values in review.items():
        session.execute(sa.update(Finding).where(Finding.rule_code == rule, Finding.county_code == county)
                        .values(**values))
    for seq, status, end, received in [(1, BatchStatus.LOADED, "2011-05-31", "2011-06-10"),
                                       (3, BatchStatus.LOADED, "2011-10-31", "2011-11-10"),
                                       (4, BatchStatus.REJECTED, "2011-11-30", "2011-12-10")]:
        session.add(Batch(county_code=B, source=BatchSource.GATEWAY, status=status, package_seq=seq,
                          period_start=date.fromisoformat(end).replace(day=1), period_end=date.fromisoformat(end),
                          received_at=datetime.fromisoformat(received + "T09:00:00+00:00")))
    session.flush()


@pytest.fixture
def annual(session):  # type: ignore[no-untyped-def]
    _province(session)
    review_and_packages(session)
    return build_content(session, "annual", "2011", province=read_province(CONFIG_DIR), today=date(2012, 1, 20),
                         generated_at=datetime(2012, 1, 20, 8, tzinfo=timezone.utc))


def rows(content, key):  # type: ignore[no-untyped-def]
    return list(content.table(key).rows)


def test_enrolment_financing_and_the_fund(annual) -> None:  # type: ignore[no-untyped-def]
    assert (annual.province_code, annual.province_name, annual.county, annual.kind) == (
        PROVINCE, "贵州省", None, "annual")
    assert rows(annual, "enrolment") == [
        # 2011 members: A's M1, M2, M3 in households H1, H2 of 1,000 people; B's N1 of 500
        (A, "开阳县", 1000, 3, 2, D("0.0030")), (B, "息烽县", 500, 1, 1, D("0.0020")),
        (PROVINCE, "贵州省", 1500, 4, 3, D("0.0027"))]  # 4 / 1,500, not the counties' mean
    assert rows(annual, "financing_by_source") == [
        # individual, central, provincial, local, other, total
        (A, "开阳县", D("90.00"), D("6000.00"), D("2000.00"), D("1000.00"), D("0.00"), D("9090.00")),
        (B, "息烽县", D("30.00"), D("3000.00"), D("0.00"), D("0.00"), D("0.00"), D("3030.00")),
        (PROVINCE, "贵州省", D("120.00"), D("9000.00"), D("2000.00"), D("1000.00"), D("0.00"), D("12120.00"))]
    assert rows(annual, "fund_balance") == [
        # A: 7,040 paid of 9,090 = 0.77448; claims up to August: 8/12; (9,090 - 7,040) / 9,090 = 0.22552;
        # cumulative: 5,000 (2010) + 9,090 - 1,500 (2010's) - 7,040 = 5,550, / 9,090 = 0.61056; its
        # fund_overspend warning holds: deficit
        (A, "开阳县", D("9090.00"), D("7040.00"), D("0.7745"), D("0.6667"), D("0.2255"), D("5550.00"), D("0.6106"),
         "deficit"),
        # B: 1,525 of 3,030 = 0.50330, up to May 5/12; 1,505 left
        (B, "息烽县", D("3030.00"), D("1525.00"), D("0.5033"), D("0.4167"), D("0.4967"), D("1505.00"), D("0.4967"),
         "none"),
        # 8,565 of 12,120 = 0.70668; 3,555 / 12,120 = 0.29332; 17,120 - 1,500 - 8,565 = 7,055, / 12,120 = 0.58209
        (PROVINCE, "贵州省", D("12120.00"), D("8565.00"), D("0.7067"), D("0.6667"), D("0.2933"), D("7055.00"),
         D("0.5821"), "deficit")]
    assert rows(annual, "monthly_fund_flow") == [
        ("2011-01", D("6090.00"), D("40.00")), ("2011-02", D("3030.00"), D("2400.00")),
        ("2011-03", D("2000.00"), D("0.00")), ("2011-04", D("0.00"), D("4000.00")),
        ("2011-05", D("0.00"), D("1525.00")), ("2011-06", D("0.00"), D("0.00")), ("2011-07", D("0.00"), D("0.00")),
        ("2011-08", D("0.00"), D("600.00")), ("2011-09", D("1000.00"), D("0.00")),
        *((f"2011-{m}", D("0.00"), D("0.00")) for m in (10, 11, 12))]


def test_compensation_benefit_and_cost(annual) -> None:  # type: ignore[no-untyped-def]
    # A in 2011: visits 1 (100; 40 paid) and 4 (60; none), stays 2 (5,000; 2,400), 3 (10,000;
    # 4,000, at a city hospital) and 5 (1,000; 600); 6 is voided, 7 settled in 2010.
    # B: stay 8 (3,000; 1,500) and visit 9 (50; 25).
    assert rows(annual, "compensation_by_type") == [
        (A, "开阳县", 2, D("40.00"), 3, D("7000.00"), D("16160.00"), D("7040.00")),
        (B, "息烽县", 1, D("25.00"), 1, D("1500.00"), D("3050.00"), D("1525.00")),
        (PROVINCE, "贵州省", 3, D("65.00"), 4, D("8500.00"), D("19210.00"), D("8565.00"))]
    assert rows(annual, "benefit") == [
        # compensated: A's 1, 2, 3, 5 (4 of 3 members); B's 8 and 9
        (A, "开阳县", 3, 4, D("1.3333"), 3, D("1.0000")), (B, "息烽县", 1, 2, D("2.0000"), 1, D("1.0000")),
        (PROVINCE, "贵州省", 4, 6, D("1.5000"), 4, D("1.0000"))]
    assert rows(annual, "cost_and_coverage") == [
        # A: 16,000 / 3 stays; 7,000 / 3; 160 / 2 visits; 16,160 - 7,040; 7,000 / 16,000; 7,000 / 13,000
        # within policy = 0.53846; 7,040 / 16,160 = 0.43564
        (A, "开阳县", D("5333.33"), D("2333.33"), D("80.00"), D("9120.00"), D("0.4375"), D("0.5385"), D("0.4356")),
        (B, "息烽县", D("3000.00"), D("1500.00"), D("50.00"), D("1525.00"), D("0.5000"), D("0.6000"), D("0.5000")),
        # 19,000 / 4; 8,500 / 4; 210 / 3; 19,210 - 8,565; 8,500 / 19,000 = 0.44737; 8,500 / 15,500 =
        # 0.54839; 8,565 / 19,210 = 0.44586
        (PROVINCE, "贵州省", D("4750.00"), D("2125.00"), D("70.00"), D("10645.00"), D("0.4474"), D("0.5484"),
         D("0.4459"))]
    assert rows(annual, "out_of_county_care") == [
        (A, "开阳县", 3, 1, 0, D("0.3333")), (B, "息烽县", 1, 0, 0, D("0.0000")), (PROVINCE, "贵州省", 4, 1, 0, D("0.2500"))]
    assert rows(annual, "claims_by_level") == [
        # stays, cost per stay, their compensation, actual ratio; visits, their compensation
        ("village", 0, N, D("0.00"), N, 0, D("0.00")),
        ("township", 1, D("3000.00"), D("1500.00"), D("0.5000"), 3, D("65.00")),  # B's stay; visits 1, 4, 9
        ("county", 2, D("3000.00"), D("3000.00"), D("0.5000"), 0, D("0.00")),  # stays 2 and 5: 6,000; 3,000
        ("municipal", 1, D("10000.00"), D("4000.00"), D("0.4000"), 0, D("0.00")),
        ("provincial", 0, N, D("0.00"), N, 0, D("0.00")), ("out_of_province", 0, N, D("0.00"), N, 0, D("0.00")),
        ("total", 4, D("4750.00"), D("8500.00"), D("0.4474"), 3, D("65.00"))]
    assert rows(annual, f"claims_by_level_{B}")[1] == ("township", 1, D("3000.00"), D("1500.00"), D("0.5000"), 1,
                                                       D("25.00"))


def test_supervision_by_county_and_rule(annual) -> None:  # type: ignore[no-untyped-def]
    # findings about 2011 care (the fund warning is apart): A's duplicate (claim 2, open),
    # overpayment (claim 2, open: its money explained by the duplicate), price (March,
    # determined: 500 to recover, 200 back), ghost stay (dismissed); B's duplicate (open).
    # Pushed: A's price and ghost stay, B's duplicate. Money at stake: claim 2 once (2,400) + 500; B 1,500
    assert rows(annual, "supervision_by_county") == [
        # raised, pushed, undecided, determined, dismissed, at stake, to recover, recovered, rate
        (A, "开阳县", 4, 2, 2, 1, 1, D("2900.00"), D("500.00"), D("200.00"), D("0.4000")),
        (B, "息烽县", 1, 1, 1, 0, 0, D("1500.00"), D("0.00"), D("0.00"), N),
        (PROVINCE, "贵州省", 5, 3, 3, 1, 1, D("4400.00"), D("500.00"), D("200.00"), D("0.4000"))]
    assert rows(annual, "supervision_by_rule") == [  # the most money at stake first
        ("duplicate_claim", 2, 1, 2, 0, 0, D("3900.00"), D("0.00"), D("0.00"), N),
        ("over_standard_price", 1, 1, 0, 1, 0, D("500.00"), D("500.00"), D("200.00"), D("0.4000")),
        ("ghost_stay", 1, 1, 0, 0, 1, D("0.00"), D("0.00"), D("0.00"), N),
        ("overpayment", 1, 0, 1, 0, 0, D("0.00"), D("0.00"), D("0.00"), N),
        ("total", 5, 3, 3, 1, 1, D("4400.00"), D("500.00"), D("200.00"), D("0.4000"))]
    assert rows(annual, f"supervision_by_rule_{B}") == [
        ("duplicate_claim", 1, 1, 1, 0, 0, D("1500.00"), D("0.00"), D("0.00"), N),
        ("total", 1, 1, 1, 0, 0, D("1500.00"), D("0.00"), D("0.00"), N)]


def test_supervision_of_a_quarter_takes_the_findings_about_its_care(session) -> None:  # type: ignore[no-untyped-def]
    _province(session)
    review_and_packages(session)
    # Q1: A's duplicate and overpayment (February's stay) and the price finding (March)
    q1 = {(s.county_code, s.rule_code): s for s in supervision(session, Period.parse("2011-Q1"))}
    assert sorted(q1) == [(A, "duplicate_claim"), (A, "over_standard_price"), (A, "overpayment")]
    assert (q1[(A, "over_standard_price")].determined, q1[(A, "over_standard_price")].amount_recovered) == (
        1, D("200.00"))
    assert [(s.county_code, s.rule_code) for s in supervision(session, Period.parse("2011-05"))] == [
        (B, "duplicate_claim")]


def test_data_timeliness_of_each_county(annual) -> None:  # type: ignore[no-untyped-def]
    # judged on 20 January 2012, monthly with 15 days' grace: December 2011 is due; B's newest
    # loaded is October's (package 3): two months behind; the last to arrive was package 4 (10
    # December), refused, so missing as 2 is. A: nothing received.
    assert rows(annual, "data_timeliness") == [
        (A, "开阳县", N, N, "", ""), (B, "息烽县", date(2011, 12, 10), 2, "2,4", "4")]


def test_a_countys_report_holds_that_county_alone(session) -> None:  # type: ignore[no-untyped-def]
    _province(session)
    content = build_content(session, "quarterly", "2011-Q2", B, province=read_province(CONFIG_DIR))
    assert content.county == B and content.sections == [B]
    assert rows(content, "compensation_by_type") == [(B, "息烽县", 1, D("25.00"), 1, D("1500.00"), D("3050.00"),
                                                       D("1525.00"))]
    assert not [t.key for t in content.tables if t.key.endswith(B) or t.key.endswith(A)]
    assert content.county_names[B] == {"zh": "息烽县", "en": "Xifeng"}


def test_every_value_has_its_columns_kind(annual) -> None:  # type: ignore[no-untyped-def]
    types = {"text": str, "integer": int, "money": Decimal, "rate": Decimal, "date": date}
    assert {c.kind for t in annual.tables for c in t.columns} == set(COLUMN_KINDS)
    keys = [t.key for t in annual.tables]
    assert len(keys) == len(set(keys))
    for table in annual.tables:
        for row in table.rows:
            assert len(row) == len(table.columns), table.key
            for column, value in zip(table.columns, row):
                assert value is None or type(value) is types[column.kind], (table.key, column.key, value)
                if column.kind == "money" and value is not None:
                    assert value == value.quantize(D("0.01")) and value.as_tuple().exponent == -2
    assert annual.sections == ["province", A, B]


@pytest.mark.parametrize("kind, period, message", [
    ("quarterly", "2011-07", r"a quarterly report is for a quarter \(2011-Q3\), not 2011-07"),
    ("weekly", "2011", "allowed: monthly, quarterly, annual")])
def test_a_period_of_another_kind_is_refused(session, kind, period, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=message):
        build_content(session, kind, period)
