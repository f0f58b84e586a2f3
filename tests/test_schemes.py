"""Compensation schemes as counties paid them in 2008-2012, and no claim left unjudged in silence.

Outpatient terms at any level a county pays (the county hospital here), per-visit and per-year
outpatient caps, the referral cut per level; and the claims a rule cannot judge (no scheme
terms, no catalogue price) counted as unchecked per rule and county, apart from rows scanned,
printed by ``ncms monitor run``, the scheme's gap itself a finding. On SQLite and PostgreSQL."""
from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from ncms.config import ConfigError
from ncms.db import session_scope
from ncms.ingest import ingest_package
from ncms.models import ClaimKind, CompensationScheme, InstitutionLevel, RuleRun, SchemeLevel
from ncms.monitor import run_monitor
from ncms.monitor.catalogue import NO_PRICE, NO_SCHEME, NO_TERMS
from ncms.reference import load_reference, read_reference

from .conftest import CONFIG_DIR
from .packages import COUNTY, HOSPITAL, TOWNSHIP, claim, member
from .packages import package as write_package
from .test_monitor import MUNICIPAL, findings, line, stay, visit

TODAY = date(2013, 1, 1)
# the 2011 scheme of 520122, as a county paying outpatient care at its hospitals might write it
COUNTY_OUTPATIENT = {"deductible": "0.00", "ratio": "0.40", "per_visit_cap": "60.00"}
TERMS = {"outpatient_annual_cap": "100.00", "unreferred_ratio_cut": {"county": "0.10", "municipal": "0.20"}}


def schemes_with(county: str, year: int, change) -> dict:  # type: ignore[no-untyped-def]
    """The shipped schemes.yaml with one county's scheme of a year changed by ``change``."""
    raw = yaml.safe_load((CONFIG_DIR / "schemes.yaml").read_text(encoding="utf-8"))
    entry = next(s for s in raw["schemes"] if str(s["county"]) == county and s["year"] == year)
    change(entry)
    return raw


def paying_county_outpatient(entry: dict) -> None:
    entry.update(TERMS)
    entry["outpatient"]["county"] = dict(COUNTY_OUTPATIENT)


def config(tmp_path: Path, schemes: dict) -> Path:
    import shutil

    folder = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, folder)
    (folder / "schemes.yaml").write_text(yaml.safe_dump(schemes, allow_unicode=True), encoding="utf-8")
    return folder


# --- the scheme file ---------------------------------------------------------------------

def test_a_scheme_pays_outpatient_care_at_the_county_hospital_with_caps_and_cuts_per_level(tmp_path) -> None:
    ref = read_reference(config(tmp_path, schemes_with(COUNTY, 2011, paying_county_outpatient)))
    scheme = next(s for s in ref.schemes if s["county_code"] == COUNTY and s["year"] == 2011)
    terms = {(lv["kind"], lv["level"]): lv for lv in scheme["levels"]}
    county = terms[ClaimKind.OUTPATIENT, InstitutionLevel.COUNTY]
    assert (county["deductible"], county["ratio"], county["per_visit_cap"]) == \
        (Decimal("0.00"), Decimal("0.40"), Decimal("60.00"))
    assert scheme["outpatient_annual_cap"] == Decimal("100.00")
    cuts = {level.value: lv["unreferred_ratio_cut"] for (kind, level), lv in terms.items() if kind is ClaimKind.INPATIENT}
    assert cuts == {"township": 0, "county": Decimal("0.10"), "municipal": Decimal("0.20"), "provincial": 0,
                    "out_of_province": 0}


def test_one_number_still_cuts_every_out_of_county_level() -> None:
    scheme = next(s for s in read_reference(CONFIG_DIR).schemes if s["county_code"] == COUNTY and s["year"] == 2011)
    cuts = {lv["level"].value: lv["unreferred_ratio_cut"] for lv in scheme["levels"] if lv["kind"] is ClaimKind.INPATIENT}
    assert cuts == {"township": 0, "county": 0, "municipal": Decimal("0.10"), "provincial": Decimal("0.10"),
                    "out_of_province": Decimal("0.10")}
    assert scheme["outpatient_annual_cap"] is None


def test_the_demo_schemes_use_county_outpatient_terms_and_a_cut_per_level() -> None:
    schemes = read_reference(CONFIG_DIR).schemes
    assert any(lv["kind"] is ClaimKind.OUTPATIENT and lv["level"] is InstitutionLevel.COUNTY
               for s in schemes for lv in s["levels"])
    assert any(len({lv["unreferred_ratio_cut"] for lv in s["levels"] if lv["unreferred_ratio_cut"] > 0}) > 1
               for s in schemes)
    assert any(s["outpatient_annual_cap"] is not None for s in schemes)


@pytest.mark.parametrize(("change", "message"), [
    (lambda e: e.update(unreferred_ratio_cut={"village": "0.10"}), "unreferred_ratio_cut.village"),
    (lambda e: e.update(unreferred_ratio_cut={"municipal": "1.50"}), "unreferred_ratio_cut.municipal must be in [0, 1]"),
    (lambda e: e.update(outpatient_annual_cap="0.00"), "outpatient_annual_cap"),
    (lambda e: e["inpatient"].update(village={"deductible": "0.00", "ratio": "0.50"}), "inpatient care has no village"),
])
def test_a_wrong_scheme_is_refused_with_what_is_allowed(tmp_path, change, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="allowed") as refused:
        read_reference(config(tmp_path, schemes_with(COUNTY, 2011, change)))
    assert message in str(refused.value) and "(520122 2011)" in str(refused.value)


def test_loaded_terms_carry_the_cut_per_level_and_the_outpatient_cap(loaded_engine, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with session_scope(loaded_engine) as s:
        load_reference(s, read_reference(config(tmp_path, schemes_with(COUNTY, 2011, paying_county_outpatient))))
    with session_scope(loaded_engine) as s:
        scheme = s.scalar(sa.select(CompensationScheme).where(CompensationScheme.county_code == COUNTY,
                                                              CompensationScheme.year == 2011))
        assert scheme.outpatient_annual_cap == Decimal("100.00")
        assert scheme.level(ClaimKind.OUTPATIENT, InstitutionLevel.COUNTY).ratio == Decimal("0.40")
        assert scheme.level(ClaimKind.INPATIENT, InstitutionLevel.MUNICIPAL).unreferred_ratio_cut == Decimal("0.20")
        assert s.scalar(sa.select(sa.func.count()).select_from(SchemeLevel)
                        .where(SchemeLevel.unreferred_ratio_cut > 0)) > 0


def test_the_migration_moves_a_schemes_cut_to_its_out_of_county_levels_and_back(bare_engine) -> None:  # type: ignore[no-untyped-def]
    from ncms import migrate

    migrate.upgrade(bare_engine, "0011")
    with bare_engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO county (code, name, prefecture_code, prefecture_name, mode, active, created_at, "
                             "updated_at) VALUES ('520122', 'x', '5201', 'y', 'gateway', true, '2011-01-01', '2011-01-01')"))
        conn.execute(sa.text("INSERT INTO compensation_scheme (id, county_code, year, annual_cap, referral_required, "
                             "unreferred_ratio_cut, created_at, updated_at) VALUES (1, '520122', 2011, 50000, true, "
                             "0.1, '2011-01-01', '2011-01-01')"))
        for n, (kind, level) in enumerate([("inpatient", "county"), ("inpatient", "municipal"),
                                           ("inpatient", "out_of_province"), ("outpatient", "township")]):
            conn.execute(sa.text("INSERT INTO scheme_level (id, scheme_id, kind, level, deductible, ratio) "
                                 f"VALUES ({n + 1}, 1, '{kind}', '{level}', 100, 0.6)"))
    migrate.upgrade(bare_engine)
    with bare_engine.connect() as conn:
        cuts = dict(conn.execute(sa.text("SELECT level || ':' || kind, unreferred_ratio_cut FROM scheme_level")).all())
    assert {key: Decimal(str(cut)).normalize() for key, cut in cuts.items()} == {
        "county:inpatient": 0, "municipal:inpatient": Decimal("0.1"), "out_of_province:inpatient": Decimal("0.1"),
        "township:outpatient": 0}
    migrate.downgrade(bare_engine, "0011")
    with bare_engine.connect() as conn:
        assert Decimal(str(conn.scalar(sa.text("SELECT unreferred_ratio_cut FROM compensation_scheme")))) == \
            Decimal("0.1")


# --- the rules over such a scheme ------------------------------------------------------

def out_visit(cid: str, member_no: str, day: str, total: str, paid: str, **kw: str) -> dict[str, str]:
    return visit(cid, member_no, day, total=total, compensated_amount=paid, **kw)


CLAIMS = [
    # outpatient care at the county hospital: 40 %, at most 60.00 a visit
    out_visit("OC1", "M1", "2011-04-01", "100.00", "40.00", institution_code=HOSPITAL),   # as due: no hit
    out_visit("OC2", "M2", "2011-04-01", "100.00", "55.00", institution_code=HOSPITAL),   # 15.00 too much
    out_visit("OC3", "M3", "2011-04-01", "200.00", "70.00", institution_code=HOSPITAL),   # 80.00 capped at 60.00
    # 100.00 of outpatient care a year: three township visits of 35.00 (35 % of 100.00) pay 105.00
    *(out_visit(f"OY{n}", "M7", f"2011-0{n + 4}-01", "100.00", "35.00", institution_code=TOWNSHIP) for n in (1, 2, 3)),
    *(out_visit(f"ON{n}", "M8", f"2011-0{n + 4}-01", "100.00", "35.00", institution_code=TOWNSHIP)
      for n in (1, 2)),                                                                     # 70.00: no hit
    # a stay at the county hospital without referral: (1,000 - 250) x (70 % - 10 %) = 450.00
    stay("RC1", "M11", "2011-02-01", "2011-02-05", compensated_amount="525.00"),         # paid in full: hit
    stay("RC2", "M12", "2011-02-01", "2011-02-05", compensated_amount="450.00"),         # paid cut: no hit
    stay("RC3", "M13", "2011-02-01", "2011-02-05", referral="1"),                        # referred, 525.00: no
    # at a city hospital, cut by 20 points: (2,000 - 500) x 33 % = 495.00
    stay("MC1", "M14", "2011-03-01", "2011-03-05", total="2000.00", institution_code=MUNICIPAL,
         compensated_amount="645.00"),                                                   # the old 10-point cut: hit
    stay("MC2", "M15", "2011-03-01", "2011-03-05", total="2000.00", institution_code=MUNICIPAL,
         compensated_amount="495.00"),                                                   # no hit
    # no terms: outpatient care at a city hospital, which 520122 does not pay
    out_visit("GAP1", "M16", "2011-06-01", "80.00", "20.00", institution_code=MUNICIPAL),
    out_visit("GAP2", "M17", "2011-06-02", "90.00", "22.00", institution_code=MUNICIPAL),
    # no scheme at all: 2009 (the config starts in 2010)
    stay("Y1", "M18", "2009-06-01", "2009-06-05", compensated_amount="300.00"),
]
# an item the catalogue lacks (Z0001): over-standard price cannot judge OC1
ITEMS = [line("OC1", "Z0001", "100.00")]
MEMBERS = sorted({c["member_no"] for c in CLAIMS}, key=lambda no: int(no[1:]))


@pytest.fixture
def settings(settings, tmp_path):  # type: ignore[no-untyped-def]
    return replace(settings, config_dir=str(config(tmp_path, schemes_with(COUNTY, 2011, paying_county_outpatient))))


@pytest.fixture
def province(loaded_engine, settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.ensure_dirs()
    with session_scope(loaded_engine) as s:
        load_reference(s, read_reference(Path(settings.config_dir)))
    members = [member(no) for no in MEMBERS]
    enrolments = [dict(member_no=no, year=year, contribution="30.00", enrolled_on=None)
                  for no in MEMBERS for year in ("2009", "2011")]
    result = ingest_package(loaded_engine, settings, write_package(
        tmp_path / "p.zip", members=members, enrolments=enrolments, claims=CLAIMS, claim_items=ITEMS), today=TODAY)
    assert (result.status.value, result.rows_rejected) == ("loaded", 0), result.error
    return loaded_engine


def test_outpatient_care_at_the_county_hospital_is_judged_by_its_terms(province, settings) -> None:  # type: ignore[no-untyped-def]
    run_monitor(province, settings, counties=[COUNTY], rules=["overpayment"])
    found = findings(province, "overpayment")
    assert set(found) == {"OC2", "OC3"}
    assert found["OC2"].amount_at_stake == Decimal("15.00") and found["OC2"].evidence["scheme_pays"] == "40.00"
    assert found["OC3"].amount_at_stake == Decimal("10.00") and found["OC3"].evidence["scheme_pays"] == "60.00"


def test_the_referral_cut_is_the_levels_own(province, settings) -> None:  # type: ignore[no-untyped-def]
    run_monitor(province, settings, counties=[COUNTY], rules=["missing_referral"])
    found = findings(province, "missing_referral")
    assert set(found) == {"RC1", "MC1"}
    assert found["RC1"].amount_at_stake == Decimal("75.00") and found["RC1"].evidence["ratio_cut"] == "0.1000"
    assert found["MC1"].amount_at_stake == Decimal("150.00") and found["MC1"].evidence["ratio_cut"] == "0.2000"


def test_the_outpatient_annual_cap_is_a_cap_breach(province, settings) -> None:  # type: ignore[no-untyped-def]
    run_monitor(province, settings, counties=[COUNTY], rules=["cap_breach"])
    found = findings(province, "cap_breach")
    assert set(found) == {"M7:2011"}
    breach = found["M7:2011"]
    assert breach.amount_at_stake == Decimal("5.00")
    assert (breach.evidence["outpatient_paid"], breach.evidence["outpatient_annual_cap"]) == ("105.00", "100.00")


def test_claims_a_rule_cannot_judge_are_unchecked_not_scanned(province, settings) -> None:  # type: ignore[no-untyped-def]
    result = run_monitor(province, settings, counties=[COUNTY],
                         rules=["overpayment", "missing_referral", "cap_breach", "over_standard_price", "not_enrolled"])
    with session_scope(province) as s:
        runs = {r.rule_code: r for r in s.scalars(sa.select(RuleRun).where(RuleRun.run_id == result.run_id))}
    without_terms = {NO_TERMS: 2, NO_SCHEME: 1}  # GAP1, GAP2; Y1
    for rule in ("overpayment", "missing_referral"):
        assert (runs[rule].unchecked, runs[rule].unchecked_reasons) == (3, without_terms)
        assert runs[rule].rows_scanned == len(CLAIMS) - 3
    assert (runs["cap_breach"].unchecked, runs["cap_breach"].unchecked_reasons) == (1, {NO_SCHEME: 1})
    assert (runs["over_standard_price"].unchecked, runs["over_standard_price"].unchecked_reasons) == (1, {NO_PRICE: 1})
    assert (runs["not_enrolled"].unchecked, runs["not_enrolled"].rows_scanned) == (0, len(CLAIMS))  # judges all
    outcomes = {o.rule_code: o for o in result.outcomes}
    assert outcomes["overpayment"].unchecked_reasons == without_terms


def test_a_gap_in_the_scheme_is_a_finding_with_its_claims_and_money(province, settings) -> None:  # type: ignore[no-untyped-def]
    run_monitor(province, settings, counties=[COUNTY], rules=["scheme_terms_missing"])
    found = findings(province, "scheme_terms_missing")
    assert set(found) == {"2011:outpatient:municipal", "2009:inpatient:county"}
    gap = found["2011:outpatient:municipal"]
    assert gap.amount_at_stake == Decimal("42.00") and gap.evidence["claims"] == 2
    assert gap.evidence["reason"] == NO_TERMS and gap.claim_id is None
    assert (gap.period_start, gap.period_end) == (date(2011, 1, 1), date(2011, 12, 31))
    assert found["2009:inpatient:county"].evidence["reason"] == NO_SCHEME


def test_a_gap_filled_closes_its_finding_and_the_claims_are_judged(province, settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run_monitor(province, settings, counties=[COUNTY], rules=["scheme_terms_missing", "overpayment"])

    def paying_city_outpatient(entry: dict) -> None:  # 520122 now pays city outpatient care at 20 %
        paying_county_outpatient(entry)
        entry["outpatient"]["municipal"] = {"deductible": "0.00", "ratio": "0.20"}
    filled = replace(settings, config_dir=str(config(tmp_path / "filled", schemes_with(COUNTY, 2011,
                                                                                          paying_city_outpatient))))
    with session_scope(province) as s:
        load_reference(s, read_reference(Path(filled.config_dir)))
    result = run_monitor(province, filled, counties=[COUNTY], rules=["scheme_terms_missing", "overpayment"])
    found = findings(province, "scheme_terms_missing")
    assert found["2011:outpatient:municipal"].closed_reason.startswith("no longer holds")
    # now judged: 20 % of 80.00 and of 90.00 are 16.00 and 18.00, and 20.00 and 22.00 were paid
    overpaid = findings(province, "overpayment")
    assert set(overpaid) == {"OC2", "OC3", "GAP1", "GAP2"} and overpaid["GAP2"].amount_at_stake == Decimal("4.00")
    assert {o.rule_code: o.unchecked for o in result.outcomes} == {"scheme_terms_missing": 0, "overpayment": 1}


def test_ncms_monitor_run_prints_the_unchecked_claims_with_their_reason(province, cli) -> None:  # type: ignore[no-untyped-def]
    done = cli("monitor", "run", "--county", COUNTY, "--rule", "overpayment", "--rule", "cap_breach", "--no-anomaly")
    assert done.exit_code == 0, done.output
    unchecked = done.output[done.output.index("unchecked:"):].splitlines()
    assert unchecked[0].startswith("unchecked: 4 ")
    rows = {tuple(line.split()[:3]): " ".join(line.split()[3:]) for line in unchecked[2:]}
    assert rows == {("overpayment", COUNTY, "2"): NO_TERMS, ("overpayment", COUNTY, "1"): NO_SCHEME,
                    ("cap_breach", COUNTY, "1"): NO_SCHEME}
