"""The model keeps its promises on both databases: unique natural keys, exact money, checks."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, StatementError

from ncms.db import insert_rows, session_scope
from ncms.models import (
    CatalogueItem,
    Claim,
    ClaimItem,
    ClaimKind,
    CompensationScheme,
    Enrolment,
    Finding,
    FindingStatus,
    Household,
    Institution,
    ItemCategory,
    Member,
    Severity,
    Sex,
    to_money,
)

COUNTY = "520121"


def claim(source_id: str = "C1", **overrides) -> Claim:  # type: ignore[no-untyped-def]
    values = dict(
        county_code=COUNTY, source_id=source_id, kind=ClaimKind.INPATIENT, member_no="M1",
        national_id="520121198001010011", institution_id=1, admission_date=date(2011, 3, 1),
        discharge_date=date(2011, 3, 5), settlement_date=date(2011, 3, 6), diagnosis_code="J18.9",
        total_amount=Decimal("1234.56"), eligible_amount=Decimal("1000.00"),
        compensated_amount=Decimal("560.00"),
    )
    values.update(overrides)
    return Claim(**values)


def institution_id(session) -> int:  # type: ignore[no-untyped-def]
    return session.scalar(sa.select(Institution.id).where(Institution.area_code == COUNTY).limit(1))


def commit_fails(engine, *objects) -> bool:  # type: ignore[no-untyped-def]
    try:
        with session_scope(engine) as s:
            s.add_all(objects)
    except IntegrityError:
        return True
    return False


def test_claim_natural_key_is_unique_per_county(loaded_engine):
    with session_scope(loaded_engine) as s:
        inst = institution_id(s)
        s.add(claim("C1", institution_id=inst))
    assert commit_fails(loaded_engine, claim("C1", institution_id=inst))
    with session_scope(loaded_engine) as s:  # the same source id in another county is another claim
        s.add(claim("C1", institution_id=inst, county_code="520122"))
    with session_scope(loaded_engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Claim)) == 2


def test_member_enrolment_and_item_keys_are_unique(loaded_engine):
    with session_scope(loaded_engine) as s:
        hh = Household(county_code=COUNTY, household_no="H1")
        m = Member(county_code=COUNTY, member_no="M1", household=hh, national_id="520121198001010011",
                   name="张三", sex=Sex.MALE, birth_date=date(1980, 1, 1))
        s.add_all([m, Enrolment(member=m, county_code=COUNTY, member_no="M1", year=2011, contribution=Decimal("30"))])
        c = claim(institution_id=institution_id(s))
        c.items.append(ClaimItem(line_no=1, item_code="D0001", category=ItemCategory.DRUG,
                                 quantity=Decimal("2"), unit_price=Decimal("8.50"), amount=Decimal("17.00")))
        s.add(c)
        s.flush()
        member_id, claim_id = m.id, c.id
    assert commit_fails(loaded_engine, Member(county_code=COUNTY, member_no="M1", national_id="520121198001010011",
                                              name="李四", sex=Sex.MALE, birth_date=date(1980, 1, 1)))
    assert commit_fails(loaded_engine, Household(county_code=COUNTY, household_no="H1"))
    enrolment = dict(county_code=COUNTY, member_no="M1", year=2011, contribution=Decimal("30"))
    assert commit_fails(loaded_engine, Enrolment(member_id=member_id, **enrolment))
    assert commit_fails(loaded_engine, Enrolment(member_id=member_id + 1, **enrolment))  # by county and number too
    assert commit_fails(loaded_engine, ClaimItem(claim_id=claim_id, line_no=1, item_code="X", category=ItemCategory.OTHER,
                                                 quantity=Decimal(1), unit_price=Decimal(1), amount=Decimal(1)))
    assert commit_fails(loaded_engine, Institution(code="520121300001", name="dup", level="county", area_code=COUNTY))
    assert commit_fails(loaded_engine, CatalogueItem(code="D0001", name="dup", category=ItemCategory.DRUG, price=Decimal(1)))
    assert commit_fails(loaded_engine, CompensationScheme(county_code=COUNTY, year=2011, annual_cap=Decimal(1)))
    # and a second enrolment year for the same member is fine
    assert not commit_fails(loaded_engine, Enrolment(member_id=member_id, **dict(enrolment, year=2012)))


def test_finding_is_unique_per_rule_and_subject(loaded_engine):
    def finding() -> Finding:
        return Finding(rule_code="split_admission", rule_version="1", subject_key="claim:520121:C1",
                       county_code=COUNTY, severity=Severity.SUSPICIOUS)

    assert not commit_fails(loaded_engine, finding())
    assert commit_fails(loaded_engine, finding())


@pytest.mark.parametrize("amount", ["0.10", "0.20", "0.30", "1234567.89", "999999999999.99", "0.01", "0.00"])
def test_money_round_trips_exactly(loaded_engine, amount):
    with session_scope(loaded_engine) as s:
        s.add(claim(institution_id=institution_id(s), total_amount=Decimal(amount),
                    eligible_amount=Decimal(amount), compensated_amount=Decimal(amount)))
    with session_scope(loaded_engine) as s:
        c = s.scalar(sa.select(Claim))
        assert isinstance(c.total_amount, Decimal)
        assert c.total_amount == Decimal(amount)
        assert str(c.total_amount) == amount


def test_money_sums_without_float_error(loaded_engine):
    """Ten thousand claims of 0.10 yuan sum to exactly 1000.00, as a Decimal, on both databases."""
    with session_scope(loaded_engine) as s:
        inst = institution_id(s)
        s.add_all(claim(f"C{i}", institution_id=inst, total_amount=Decimal("0.10"),
                        eligible_amount=Decimal("0.10"), compensated_amount=Decimal("0.10"))
                  for i in range(10_000))
    with session_scope(loaded_engine) as s:
        total = s.scalar(sa.select(sa.func.sum(Claim.total_amount)))
        assert isinstance(total, Decimal)
        assert total == Decimal("1000.00")


def test_float_money_is_refused(loaded_engine):
    with pytest.raises(StatementError, match="not float"):
        with session_scope(loaded_engine) as s:
            s.add(claim(institution_id=institution_id(s), total_amount=0.1 + 0.2))
            s.flush()
    with pytest.raises(TypeError):
        to_money(0.3)
    assert to_money("12.345") == Decimal("12.35")  # half up, to the fen
    assert to_money(7) == Decimal("7.00")


def test_check_constraints_refuse_malformed_rows(loaded_engine):
    with session_scope(loaded_engine) as s:
        inst = institution_id(s)
    assert commit_fails(loaded_engine, claim(institution_id=inst, eligible_amount=Decimal("2000")))
    assert commit_fails(loaded_engine, claim(institution_id=inst, discharge_date=date(2011, 2, 1)))
    assert commit_fails(loaded_engine, claim(institution_id=inst, settlement_date=date(2011, 3, 4)))


def test_enum_columns_store_codes_and_refuse_others(loaded_engine):
    with session_scope(loaded_engine) as s:
        s.add(claim(institution_id=institution_id(s)))
    with loaded_engine.connect() as conn:
        assert conn.execute(sa.text("SELECT kind FROM claim")).scalar() == "inpatient"
        with pytest.raises(IntegrityError):
            conn.execute(sa.text("UPDATE claim SET kind = 'dental'"))


def test_insert_rows_stores_what_an_insert_would(loaded_engine):
    """The bulk insert (a COPY on PostgreSQL) sends values through the columns' types and fills in
    the defaults, as an INSERT does: text that COPY escapes, JSON, enumerations, money, a
    timestamp in another zone, NULLs; and it refuses what an INSERT refuses."""
    beijing = timezone(timedelta(hours=8))
    seen = datetime(2011, 3, 1, 8, 30, tzinfo=beijing)
    evidence = {"note": 'tab\there, newline\nthere, back\\slash, "quoted", 病历', "amount": "12.30", "none": None}
    rows = [dict(rule_code="split_admission", rule_version="1", subject_key=f"claim:520121:C{n}",
                 county_code=COUNTY, claim_id=None, severity=Severity.SUSPICIOUS, amount_at_stake=Decimal("12.30"),
                 parameters={"readmission_days": 15}, evidence=evidence if n else None, period_start=date(2011, 3, 1),
                 period_end=None, last_seen_at=seen) for n in range(2)]
    with loaded_engine.begin() as conn:
        insert_rows(conn, Finding.__table__, rows)
    with session_scope(loaded_engine) as s:
        found = {f.subject_key: f for f in s.scalars(sa.select(Finding))}
    assert set(found) == {"claim:520121:C0", "claim:520121:C1"}
    one = found["claim:520121:C1"]
    assert (one.severity, one.status) == (Severity.SUSPICIOUS, FindingStatus.OPEN)
    assert one.amount_at_stake == Decimal("12.30")
    assert (one.parameters, one.evidence) == ({"readmission_days": 15}, evidence)
    assert (one.period_start, one.period_end, one.claim_id) == (date(2011, 3, 1), None, None)
    assert one.last_seen_at == seen and one.last_seen_at.utcoffset() == timedelta(0)  # kept in UTC
    assert one.first_seen_at is not None  # the column's default
    assert found["claim:520121:C0"].evidence is None
    with pytest.raises(IntegrityError):  # the same subject again
        with loaded_engine.begin() as conn:
            insert_rows(conn, Finding.__table__, rows[:1])
