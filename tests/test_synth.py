"""The synthetic province: deterministic, valid exchange records, exact compensation, labelled misuse.

The rules below are re-derived here from the exchange records alone (national IDs give sex
and age, the reference gives schemes, prices and restrictions), so they check the generator
rather than repeat it.
"""
from __future__ import annotations

import hashlib
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from ncms import ids
from ncms.exchange.package import Package
from ncms.exchange.schemas import RECORD_SCHEMAS
from ncms.exchange.screen import screen
from ncms.reference import read_reference
from ncms.synth import ANOMALOUS_INSTITUTION, FAMILIES, MALFORMED_REASONS, generate, write_packages

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"
TODAY = date(2013, 1, 1)
OUT_OF_COUNTY = ("municipal", "provincial", "out_of_province")


@pytest.fixture(scope="module")
def reference():
    return read_reference(CONFIG_DIR)


@pytest.fixture(scope="module")
def province(reference):
    return generate(reference, seed=7, claims=20_000, years=(2011, 2012), misuse_rate=0.02)


@pytest.fixture(scope="module")
def broken(reference):
    return generate(reference, seed=3, claims=4_000, misuse_rate=0.01, malformed=15)


def fen(column: str) -> pl.Expr:
    return pl.col(column).str.replace(".", "", literal=True).cast(pl.Int64)


def day(column: str) -> pl.Expr:
    return pl.col(column).str.strptime(pl.Date, "%Y-%m-%d")


def labelled(province, *families: str) -> set[tuple[str, str]]:
    rows = province.truth.filter(pl.col("family").is_in(families))
    return set(zip(rows["county_code"], rows["subject_key"]))


def keys(frame: pl.DataFrame, key: str = "claim_id") -> set[tuple[str, str]]:
    return set(zip(frame["county_code"], frame[key]))


def patients(province) -> pl.DataFrame:
    """Claims with the patient's sex and ages at admission and discharge, from the national ID."""
    claims = province.frames["claim"].with_columns(
        male=pl.col("national_id").str.slice(16, 1).cast(pl.Int32) % 2 == 1,
        birth=pl.col("national_id").str.slice(6, 8).str.strptime(pl.Date, "%Y%m%d"),
        adm=day("admission_date"), dis=pl.coalesce(day("discharge_date"), day("admission_date")))
    birthday = pl.col("birth").dt.month() * 100 + pl.col("birth").dt.day()
    age = lambda d: d.dt.year() - pl.col("birth").dt.year() - ((d.dt.month() * 100 + d.dt.day()) < birthday).cast(pl.Int32)
    return claims.with_columns(age_adm=age(pl.col("adm")), age_dis=age(pl.col("dis")))


# --- determinism and size -------------------------------------------------------------

def test_same_seed_gives_the_same_frames_and_package_bytes(reference, tmp_path):
    first = generate(reference, seed=11, claims=2_000, misuse_rate=0.02, malformed=3)
    second = generate(reference, seed=11, claims=2_000, misuse_rate=0.02, malformed=3)
    for record_type, frame in first.frames.items():
        assert frame.equals(second.frames[record_type]), record_type
    assert first.truth.equals(second.truth)
    a = write_packages(first, tmp_path / "a", months_per_package=6)
    b = write_packages(second, tmp_path / "b", months_per_package=6)
    assert [p.relative_to(tmp_path / "a") for p in a] == [p.relative_to(tmp_path / "b") for p in b]
    for x, y in zip(a, b):
        assert hashlib.sha256(x.read_bytes()).digest() == hashlib.sha256(y.read_bytes()).digest(), x.name
    other = generate(reference, seed=12, claims=2_000, misuse_rate=0.02)
    assert not other.frames["claim"].equals(first.frames["claim"])
    assert not other.frames["member"].equals(first.frames["member"])


@pytest.mark.parametrize("claims, years", [(3_000, (2011,)), (12_000, (2010, 2011, 2012))])
def test_claim_count_is_within_one_percent(reference, claims, years):
    made = generate(reference, seed=5, claims=claims, years=years, misuse_rate=0.01).frames["claim"].height
    assert abs(made - claims) <= claims * 0.01


def test_the_fixture_province_has_its_claims(province):
    assert abs(province.frames["claim"].height - 20_000) <= 200
    assert set(province.frames) == set(RECORD_SCHEMAS)


# --- the exchange format ----------------------------------------------------------------

def test_every_record_passes_the_screen(province):
    for record_type, frame in province.frames.items():
        names = list(RECORD_SCHEMAS[record_type].specs())
        assert frame.columns == ["county_code", *names]
        assert all(dtype == pl.String for dtype in frame.dtypes)
        result = screen(RECORD_SCHEMAS[record_type], frame.drop("county_code"), today=TODAY, file="x")
        assert result.problems == [], (record_type, result.problems[:3])
        assert result.good.height == frame.height


def test_money_has_two_decimals_and_quantities_up_to_three(province):
    claims, items = province.frames["claim"], province.frames["claim_item"]
    for frame, columns in ((claims, ("total_amount", "eligible_amount", "compensated_amount")),
                           (items, ("unit_price", "amount")), (province.frames["financing"], ("amount",)),
                           (province.frames["enrolment"], ("contribution",))):
        for column in columns:
            assert frame[column].str.contains(r"^[0-9]+\.[0-9]{2}$").all(), column
    assert items["quantity"].str.contains(r"^[0-9]+(\.[0-9]{1,3})?$").all()
    assert items["quantity"].str.contains(r"\.").any()  # phototherapy and oxygen hours


def test_keys_are_unique_per_county(province):
    frames = province.frames
    assert frames["member"].select("county_code", "member_no").is_unique().all()
    assert frames["enrolment"].select("county_code", "member_no", "year").is_unique().all()
    assert frames["claim"].select("county_code", "claim_id").is_unique().all()
    assert frames["claim_item"].select("county_code", "claim_id", "line_no").is_unique().all()
    assert frames["financing"].select("county_code", "year", "month", "source").is_unique().all()
    items_of = frames["claim_item"].select("county_code", "claim_id").unique()
    assert keys(items_of) == keys(frames["claim"])


# --- people -------------------------------------------------------------------------------

def test_national_ids_are_valid_and_match_sex_and_birth(province):
    members = province.frames["member"]
    sample = members.sample(3_000, seed=1)
    for number in sample["national_id"]:
        parsed = ids.parse_national_id(number, today=TODAY)
        assert parsed.number[17] == ids.national_id_check_character(number[:17])
        assert parsed.birth_date < date(2011, 1, 1)
    duplicates = labelled(province, "duplicate_enrolment")
    home = members.filter(~pl.struct("county_code", "member_no").is_in(
        [{"county_code": c, "member_no": m} for c, m in duplicates]))
    assert (home["national_id"].str.slice(0, 6) == home["county_code"]).all()
    assert home.select("national_id").is_unique().all()
    clean = patients(province).filter(~pl.struct("county_code", "claim_id").is_in(
        [{"county_code": c, "claim_id": k} for c, k in labelled(province, *FAMILIES)]))
    births = clean.filter(pl.col("diagnosis_code").str.starts_with("O"))
    assert births.height > 0 and not births["male"].any()
    assert births["age_adm"].min() >= 15 and births["age_dis"].max() <= 49


def test_households_have_one_head_and_a_plausible_size(province):
    members = province.frames["member"]
    sizes = members.group_by("county_code", "household_no").agg(
        pl.len().alias("size"), (pl.col("relation") == "head").sum().alias("heads"))
    assert (sizes["heads"] == 1).all()
    assert sizes["size"].max() <= 6 and 3.0 <= sizes["size"].mean() <= 4.0
    dead = members["death_date"].is_not_null().mean()
    assert 0.004 <= dead <= 0.03  # two years of a 7 per mille death rate, plus the misuse's
    enrolled = province.frames["enrolment"].filter(pl.col("year") == "2011").height / members.height
    assert 0.9 <= enrolled <= 0.97


def test_financing_matches_enrolment(province):
    enrolment = province.frames["enrolment"].group_by("county_code", "year").agg(
        pl.len().alias("members"), fen("contribution").sum().alias("contributions"))
    financing = province.frames["financing"].group_by("county_code", "year", "source").agg(fen("amount").sum())
    joined = financing.join(enrolment, on=["county_code", "year"])
    individual = joined.filter(pl.col("source") == "individual")
    assert (individual["amount"] == individual["contributions"]).all()
    central = joined.filter((pl.col("source") == "central") & (pl.col("year") == "2011"))
    assert (central["amount"] == central["members"] * 12400).all()
    months = province.frames["financing"]["month"].cast(pl.Int32)
    assert months.filter(province.frames["financing"]["source"] == "individual").max() <= 4


# --- claims and their cost ----------------------------------------------------------------

def test_totals_are_the_sum_of_the_items(province, reference):
    items = province.frames["claim_item"]
    q = (pl.col("quantity").cast(pl.Float64) * 1000).round(0).cast(pl.Int64)
    assert items.select(((q * fen("unit_price") + 500) // 1000 - fen("amount")).abs().max()).item() == 0
    covered = {i["code"] for i in reference.catalogue if i["covered"]}
    sums = items.group_by("county_code", "claim_id").agg(
        total=fen("amount").sum(), eligible=fen("amount").filter(pl.col("item_code").is_in(list(covered))).sum())
    claims = province.frames["claim"].join(sums, on=["county_code", "claim_id"])
    assert claims.height == province.frames["claim"].height
    assert (claims["total"] == claims.select(fen("total_amount")).to_series()).all()
    assert (claims["eligible"] == claims.select(fen("eligible_amount")).to_series()).all()
    assert (claims.select(fen("eligible_amount") <= fen("total_amount")).to_series()).all()


def test_clean_prices_respect_the_catalogue(province, reference):
    ceiling = pl.DataFrame({"item_code": [i["code"] for i in reference.catalogue],
                            "ceiling": [int(i["price"] * 100) for i in reference.catalogue]})
    items = province.frames["claim_item"].join(ceiling, on="item_code", how="left")
    assert items["ceiling"].null_count() == 0
    above = keys(items.filter(fen("unit_price") > pl.col("ceiling")))
    assert above == labelled(province, "over_standard_price")


def test_costs_and_stays_are_plausible(province):
    claims = patients(province).with_columns(los=(pl.col("dis") - pl.col("adm")).dt.total_days(),
                                             total=fen("total_amount") / 100)
    clean = claims.filter(~pl.struct("county_code", "claim_id").is_in(
        [{"county_code": c, "claim_id": k} for c, k in labelled(province, *FAMILIES)]))
    visits = clean.filter(pl.col("kind") == "outpatient")
    stays = clean.filter(pl.col("kind") == "inpatient")
    assert 0.03 <= stays.height / clean.height <= 0.08
    assert 20 <= visits["total"].median() <= 150
    assert 5 <= stays["los"].mean() <= 12
    assert 1000 <= stays["total"].median() <= 6000
    winter = stays.filter(pl.col("adm").dt.month().is_in([12, 1, 2])).height
    summer = stays.filter(pl.col("adm").dt.month().is_in([6, 7, 8])).height
    assert winter > summer
    delay = clean.select((day("settlement_date") - pl.col("dis")).dt.total_days()).to_series()
    assert delay.min() == 0 and delay.max() == 5
    assert claims.select(pl.col("adm").dt.year() == day("settlement_date").dt.year()).to_series().all()
    lines = province.frames["claim_item"].group_by("county_code", "claim_id").len()
    counted = clean.join(lines, on=["county_code", "claim_id"]).group_by("kind").agg(
        low=pl.col("len").min(), high=pl.col("len").max())
    assert dict(zip(counted["kind"], zip(counted["low"], counted["high"]))) == {"outpatient": (1, 3), "inpatient": (3, 12)}


# --- compensation -----------------------------------------------------------------------

class Scheme:
    """The reference's schemes, applied to one claim row with Decimal arithmetic (docs/domain.md §1)."""

    def __init__(self, reference) -> None:
        self.levels = {(s["county_code"], s["year"], lv["kind"].value, lv["level"].value): (s, lv)
                       for s in reference.schemes for lv in s["levels"]}
        self.level = {i["code"]: i["level"].value for i in reference.institutions}

    def due(self, row: dict) -> tuple[Decimal, Decimal]:
        """What the claim alone is due, and the annual cap."""
        level = self.level[row["institution_code"]]
        s, lv = self.levels[row["county_code"], int(row["settlement_date"][:4]), row["kind"], level]
        ratio = lv["ratio"]
        if row["kind"] == "inpatient" and row["referral"] == "0" and s["referral_required"]:
            ratio -= lv["unreferred_ratio_cut"]  # the level's own cut (out-of-county levels by default)
        due = max(Decimal(0), Decimal(row["eligible_amount"]) - lv["deductible"]) * ratio
        due = due.quantize(Decimal("0.01"), ROUND_HALF_UP)
        if lv["per_visit_cap"] is not None:
            due = min(due, lv["per_visit_cap"])
        return due, s["annual_cap"]

    def outpatient_cap(self, row: dict) -> Decimal | None:
        """The scheme's cap on a member's outpatient compensation in the year, for an outpatient claim."""
        level = self.level[row["institution_code"]]
        s, _ = self.levels[row["county_code"], int(row["settlement_date"][:4]), row["kind"], level]
        return s["outpatient_annual_cap"] if row["kind"] == "outpatient" else None


def test_clean_compensation_follows_the_scheme(province, reference):
    scheme = Scheme(reference)
    claims = province.frames["claim"].with_columns(year=pl.col("settlement_date").str.slice(0, 4)) \
        .sort("county_code", "member_no", "year", "settlement_date", "claim_id")
    dirty = labelled(province, *FAMILIES, "anomalous_institution")
    breached = labelled(province, "cap_breach")
    checked = 0
    for (county, member, _), group in claims.group_by("county_code", "member_no", "year", maintain_order=True):
        if (county, member) in breached:
            continue
        paid = outpatient = Decimal(0)
        for row in group.iter_rows(named=True):
            due, cap = scheme.due(row)
            outpatient_cap = scheme.outpatient_cap(row)
            if outpatient_cap is not None:  # the member's outpatient care of the year, capped first
                due = min(due, max(Decimal(0), outpatient_cap - outpatient))
                outpatient += due
            actual = Decimal(row["compensated_amount"])
            if (county, row["claim_id"]) not in dirty:
                assert actual == min(due, max(Decimal(0), cap - paid)), row
                checked += 1
            paid += actual
        if checked > 4_000:
            break
    assert checked > 4_000


def test_overpayments_and_missing_referrals_pay_more_than_due(province, reference):
    scheme = Scheme(reference)
    for family in ("overpayment", "missing_referral"):
        rows = province.frames["claim"].filter(pl.struct("county_code", "claim_id").is_in(
            [{"county_code": c, "claim_id": k} for c, k in labelled(province, family)]))
        assert rows.height > 0
        for row in rows.iter_rows(named=True):
            assert Decimal(row["compensated_amount"]) > scheme.due(row)[0]
            if family == "missing_referral":
                assert row["referral"] == "0" and scheme.level[row["institution_code"]] in OUT_OF_COUNTY


def test_cap_breaches_pass_the_annual_cap(province, reference):
    caps = {(s["county_code"], str(s["year"])): s["annual_cap"] * 100 for s in reference.schemes}
    year = pl.col("settlement_date").str.slice(0, 4).alias("year")
    paid = province.frames["claim"].group_by("county_code", "member_no", year).agg(fen("compensated_amount").sum())
    over = {(c, m) for c, m, y, amount in paid.iter_rows() if amount > caps[c, y]}
    assert over == labelled(province, "cap_breach")


# --- injected misuse and near misses --------------------------------------------------------

def test_every_rule_family_has_cases(province):
    counts = dict(province.truth.group_by("family").len().iter_rows())
    for family in FAMILIES:
        assert counts.get(family, 0) >= 1, family
    assert counts[ANOMALOUS_INSTITUTION] == 3
    kinds = dict(province.truth.select("family", "subject_kind").unique().iter_rows())
    assert kinds["cap_breach"] == "member" and kinds["duplicate_enrolment"] == "member"
    assert kinds[ANOMALOUS_INSTITUTION] == "institution" and kinds["split_admission"] == "claim"
    assert province.truth.select("family", "county_code", "subject_key").is_unique().all()


def stays(province) -> pl.DataFrame:
    return patients(province).filter(pl.col("kind") == "inpatient")


def readmissions(province) -> pl.DataFrame:
    """Each stay with the member's previous stay at the same institution, and the days between."""
    s = stays(province).sort("county_code", "member_no", "institution_code", "adm")
    group = ["county_code", "member_no", "institution_code"]
    return s.with_columns(prev_dis=pl.col("dis").shift(1).over(group),
                          prev_dx=pl.col("diagnosis_code").shift(1).over(group)) \
        .filter(pl.col("prev_dis").is_not_null()).with_columns(gap=(pl.col("adm") - pl.col("prev_dis")).dt.total_days())


def test_split_admissions_are_the_only_quick_readmissions_but_chemotherapy(province):
    quick = readmissions(province).filter((pl.col("gap") <= 15) & (pl.col("gap") >= 0))
    chemo = quick.filter(pl.col("diagnosis_code") == "Z51.1")
    assert chemo.height > 0
    assert keys(chemo).isdisjoint(labelled(province, *FAMILIES))
    assert keys(quick.filter(pl.col("diagnosis_code") != "Z51.1")) - labelled(province, "duplicate_claim") \
        == labelled(province, "split_admission")


def test_readmissions_just_outside_the_window_are_clean(province):
    later = readmissions(province).filter(pl.col("gap").is_between(16, 20) & (pl.col("diagnosis_code") == pl.col("prev_dx")))
    assert later.height >= 2
    assert keys(later).isdisjoint(labelled(province, *FAMILIES))


def test_overlapping_stays_are_injected(province):
    s = stays(province).select("county_code", "member_no", "claim_id", "adm", "dis", "institution_code")
    pairs = s.join(s, on=["county_code", "member_no"], suffix="_b").filter(
        (pl.col("claim_id") != pl.col("claim_id_b")) & pl.col("adm_b").is_between(pl.col("adm"), pl.col("dis"))
        & ((pl.col("adm_b") > pl.col("adm")) | (pl.col("claim_id_b") > pl.col("claim_id"))))
    flagged = set(zip(pairs["county_code"], pairs["claim_id_b"]))
    assert labelled(province, "overlapping_stay") <= flagged
    assert flagged <= labelled(province, "overlapping_stay", "duplicate_claim")


def test_outpatient_visits_during_a_stay_are_injected(province):
    claims = patients(province)
    visits = claims.filter(pl.col("kind") == "outpatient").select("county_code", "member_no", "claim_id", "adm")
    s = stays(province).select("county_code", "member_no", pl.col("adm").alias("in"), pl.col("dis").alias("out"))
    during = visits.join(s, on=["county_code", "member_no"]).filter(pl.col("adm").is_between(pl.col("in"), pl.col("out")))
    assert keys(during) == labelled(province, "outpatient_during_stay")


def test_care_after_death_and_not_enrolled_are_injected(province):
    members = province.frames["member"].select("county_code", "member_no", death=day("death_date"))
    claims = patients(province).join(members, on=["county_code", "member_no"], how="left")
    assert keys(claims.filter(pl.col("adm") > pl.col("death"))) == labelled(province, "care_after_death")
    enrolled = province.frames["enrolment"].select("county_code", "member_no", "year")
    claims = claims.with_columns(year=pl.col("adm").dt.year().cast(pl.String))
    outside = claims.join(enrolled, on=["county_code", "member_no", "year"], how="anti")
    assert keys(outside) == labelled(province, "not_enrolled")


def test_restricted_items_and_diagnoses_are_injected(province, reference):
    rules = [r for r in reference.restrictions]
    claims = patients(province)
    items = province.frames["claim_item"].join(claims.select("county_code", "claim_id", "male", "age_adm", "age_dis"),
                                               on=["county_code", "claim_id"])
    sex_bad, age_bad = set(), set()
    for r in rules:
        if r["kind"].value == "item":
            rows = items.filter(pl.col("item_code") == r["code"])
        else:
            rows = claims.filter(pl.col("diagnosis_code").str.starts_with(r["code"]))
        if r["allowed_sex"] is not None:
            sex_bad |= keys(rows.filter(pl.col("male") != (r["allowed_sex"].value == "M")))
        too_young = pl.col("age_adm") < r["min_age"] if r["min_age"] is not None else pl.lit(False)
        too_old = pl.col("age_dis") > r["max_age"] if r["max_age"] is not None else pl.lit(False)
        age_bad |= keys(rows.filter(too_young | too_old))
    assert sex_bad == labelled(province, "sex_restricted")
    assert age_bad == labelled(province, "age_restricted")


def test_excess_bed_days_ghost_and_low_standard_stays(province):
    s = stays(province).with_columns(los=(pl.col("dis") - pl.col("adm")).dt.total_days(), total=fen("total_amount"))
    beds = province.frames["claim_item"].filter(pl.col("category") == "bed").group_by("county_code", "claim_id") \
        .agg(pl.col("quantity").cast(pl.Float64).sum().alias("bed_days"))
    s = s.join(beds, on=["county_code", "claim_id"], how="left")
    assert keys(s.filter(pl.col("bed_days") != pl.col("los"))) == labelled(province, "excess_quantity")
    ghost = s.filter((pl.col("los") >= 15) & (pl.col("total") < pl.col("los") * 5_000))  # under 50 yuan a day
    assert keys(ghost) == labelled(province, "ghost_stay")
    grade = ("J06.9", "J02.9", "K02.9", "L30.9", "M54.5", "R50.9")
    low = s.filter(pl.col("diagnosis_code").is_in(grade))
    assert keys(low) == labelled(province, "low_standard_admission")
    assert low["los"].max() <= 3


def test_duplicates_are_the_later_copy_also_across_counties(province):
    claims = province.frames["claim"]
    copies = claims.filter(pl.struct("county_code", "claim_id").is_in(
        [{"county_code": c, "claim_id": k} for c, k in labelled(province, "duplicate_claim")]))
    same = ["national_id", "institution_code", "admission_date", "discharge_date", "total_amount"]
    twins = copies.join(claims, on=same, how="inner", suffix="_first", nulls_equal=True).filter(
        pl.col("claim_id") != pl.col("claim_id_first"))
    assert set(zip(twins["county_code"], twins["claim_id"])) == keys(copies)
    assert (twins["county_code"] != twins["county_code_first"]).any()
    same_county = twins.filter(pl.col("county_code") == pl.col("county_code_first"))
    assert (same_county["claim_id"] > same_county["claim_id_first"]).all()
    enrolled_twice = province.frames["member"].group_by("national_id").agg(pl.col("county_code").n_unique()) \
        .filter(pl.col("county_code") > 1)
    assert enrolled_twice.height == len(labelled(province, "duplicate_enrolment"))


def test_anomalous_institutions_stand_out(province, reference):
    level = {i["code"]: i["level"].value for i in reference.institutions}
    caps = {(s["county_code"], s["year"], lv["level"].value): lv["per_visit_cap"] for s in reference.schemes
            for lv in s["levels"] if lv["kind"].value == "outpatient"}
    dirty = labelled(province, *FAMILIES)
    items = province.frames["claim_item"].group_by("county_code", "claim_id").agg(
        drug=fen("amount").filter(pl.col("category") == "drug").sum())
    claims = patients(province).filter(~pl.struct("county_code", "claim_id").is_in(
        [{"county_code": c, "claim_id": k} for c, k in dirty])).join(items, on=["county_code", "claim_id"])
    claims = claims.with_columns(level=pl.col("institution_code").replace_strict(level), total=fen("total_amount"),
                                 los=(pl.col("dis") - pl.col("adm")).dt.total_days(),
                                 cap=pl.struct("county_code", pl.col("adm").dt.year(), "institution_code").map_elements(
                                     lambda r: caps.get((r["county_code"], r["adm"], level[r["institution_code"]])),
                                     return_dtype=pl.Decimal(12, 2)).cast(pl.Float64) * 100)
    stays = claims.filter(pl.col("kind") == "inpatient").group_by("institution_code", "level").agg(
        stay_cost=pl.col("total").mean(), los=pl.col("los").mean(), n=pl.len(),
        bed_day=pl.col("total").sum() / pl.col("los").sum(),
        short_cheap=((pl.col("los") <= 3) & (pl.col("total") <= 100_000)).mean())
    visits = claims.filter(pl.col("kind") == "outpatient").group_by("institution_code").agg(
        visit_cost=pl.col("total").mean(), visits=pl.len(),
        under_cap=(fen("compensated_amount") >= pl.col("cap") * 0.95).mean())
    table = stays.join(visits, on="institution_code", how="left").with_columns(
        [(pl.col(c) / pl.col(c).median().over("level")).alias(f"{c}_x") for c in ("stay_cost", "visit_cost", "los",
                                                                                    "bed_day")])
    odd = set(province.truth.filter(pl.col("family") == ANOMALOUS_INSTITUTION)["subject_key"])
    assert odd <= {c for c, lv in level.items() if lv in ("township", "county")}
    # one pattern each: dearer visits (or stays, where there are few visits), longer stays,
    # cheap bed days, short cheap stays, visits just under the cap
    dearer = pl.when(pl.col("visits").fill_null(0) >= 20).then(pl.col("visit_cost_x") > 1.4) \
        .otherwise(pl.col("stay_cost_x") > 1.6)
    stands_out = dearer | (pl.col("los_x") > 1.6) | ((pl.col("bed_day_x") < 0.6) & (pl.col("n") >= 5)) \
        | ((pl.col("short_cheap") > 0.3) & (pl.col("n") >= 5)) | (pl.col("under_cap").fill_null(0) > 0.5)
    assert set(table.filter(stands_out & pl.col("level").is_in(["township", "county"]))["institution_code"]) == odd


def test_misuse_rate_zero_gives_a_clean_province(reference):
    clean = generate(reference, seed=2, claims=2_000, misuse_rate=0, anomalous_institutions=0)
    assert clean.truth.height == 0


# --- malformed rows -----------------------------------------------------------------------------

def test_malformed_rows_are_exactly_the_refused_ones(broken, reference):
    truth = broken.truth.filter(pl.col("family").str.starts_with("malformed:"))
    assert truth.height == 15
    assert set(truth["family"]) == {f"malformed:{r}" for r in MALFORMED_REASONS}
    key = {"member": pl.col("member_no"), "enrolment": pl.col("member_no") + "/" + pl.col("year"),
           "claim": pl.col("claim_id"), "claim_item": pl.col("claim_id") + "/" + pl.col("line_no")}
    refused = set()
    for record_type, frame in broken.frames.items():
        result = screen(RECORD_SCHEMAS[record_type], frame.with_row_index("_line"), today=TODAY, file="x")
        lines = {p.line for p in result.problems}
        rows = frame.with_row_index("_line").filter(pl.col("_line").is_in(list(lines)))
        assert record_type != "financing" or rows.height == 0
        subjects = rows.select(key.get(record_type, pl.lit(""))).to_series()
        refused |= {(record_type, c, k) for c, k in zip(rows["county_code"], subjects)}
    expected = {(kind, c, k) for kind, c, k, f in truth.select("subject_kind", "county_code", "subject_key", "family")
                .iter_rows() if f != "malformed:unknown_institution"}
    assert refused == expected
    assert {kind for kind, _, _ in expected} == {"member", "enrolment", "claim", "claim_item"}
    unknown = truth.filter(pl.col("family") == "malformed:unknown_institution")
    registered = {i["code"] for i in reference.institutions}
    codes = broken.frames["claim"].filter(pl.col("claim_id").is_in(unknown["subject_key"].implode()))["institution_code"]
    assert codes.len() == unknown.height and not codes.is_in(list(registered)).any()


# --- packages -----------------------------------------------------------------------------------

def test_packages_round_trip(broken, tmp_path):
    paths = write_packages(broken, tmp_path / "out", months_per_package=4, encoding="GB18030")
    counties = sorted(set(broken.frames["member"]["county_code"]))
    assert len(paths) == 3 * len(counties)
    assert (tmp_path / "out" / "ground_truth.csv").exists()
    read = {rt: 0 for rt in RECORD_SCHEMAS}
    for i, path in enumerate(paths):
        county = path.parent.name
        assert path.name == f"{county}-{i % 3 + 1:04d}.zip"
        package = Package(path, tmp_path / "work" / f"{i}").open()
        assert package.county_code == county and package.manifest["sequence"] == i % 3 + 1
        types = {f.record_type for f in package.files}
        assert ({"member", "enrolment"} <= types) == (i % 3 == 0)
        for record_file in package.files:
            rows = sum(chunk.height for chunk in package.chunks(record_file))
            assert rows == record_file.rows == record_file.rows_read
            read[record_file.record_type] += rows
            if record_file.record_type == "claim" and rows:
                chunk = next(package.chunks(record_file))
                start, end = package.manifest["period"]["start"], package.manifest["period"]["end"]
                assert chunk["settlement_date"].is_between(start.isoformat(), end.isoformat()).all()
    assert read == {rt: f.height for rt, f in broken.frames.items()}
    truth = pl.read_csv(tmp_path / "out" / "ground_truth.csv", infer_schema=False)
    assert truth.equals(broken.truth)


def test_packages_in_xml(reference, tmp_path):
    small = generate(reference, seed=4, claims=300, misuse_rate=0)
    paths = write_packages(small, tmp_path, months_per_package=12, fmt="xml")
    package = Package(paths[0], tmp_path / "work").open()
    claims = next(package.chunks(next(f for f in package.files if f.record_type == "claim")))
    county = paths[0].parent.name
    assert claims.height == small.frames["claim"].filter(pl.col("county_code") == county).height


def test_the_cli_generates_writes_and_summarises(tmp_path):
    from ncms.cli import Context
    from ncms.cli.synth import synth_command

    out = tmp_path / "synth"
    result = CliRunner().invoke(
        synth_command, ["--out", str(out), "--claims", "1500", "--years", "2011-2012", "--seed", "3",
                        "--misuse-rate", "0.02", "--months-per-package", "6", "--malformed", "2"],
        obj=Context(config_dir=str(CONFIG_DIR), data_dir=str(tmp_path / "var")), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "claims/s" in result.output and "split_admission" in result.output
    assert len(list(out.glob("*/*.zip"))) == 6 * 4
    bad = CliRunner().invoke(synth_command, ["--years", "2011-2009"], obj=Context(config_dir=str(CONFIG_DIR)))
    assert bad.exit_code != 0 and "years" in bad.output
