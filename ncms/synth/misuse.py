"""Injected misuse: one realistic pattern per rule family of docs/domain.md §3, labelled.

Families that are about *when* or *for whom* care was claimed are built here as blocks of
specs (a stay claimed twice, a stay split in two, a visit inside a stay, care after death,
a claim of a member not enrolled, …) and laid out with the member's other care, so they
collide only with what they are meant to. Families about *what* was billed or *how much*
was paid change finished claims (``tamper``). The first case of ``duplicate_claim`` is
claimed in a second county, by the same person enrolled there too (``duplicate_enrolment``).
"""
from __future__ import annotations

import numpy as np
import polars as pl

from . import figures as F
from .draw import allocate, pick_from
from .fmt import date
from .population import People, contribution
from .registry import Registry
from .world import World

FAMILIES = ("duplicate_claim", "split_admission", "overlapping_stay", "outpatient_during_stay",
            "care_after_death", "sex_restricted", "age_restricted", "over_standard_price",
            "excess_quantity", "ghost_stay", "low_standard_admission", "overpayment", "cap_breach",
            "not_enrolled", "duplicate_enrolment", "missing_referral")
ANOMALOUS_INSTITUTION = "anomalous_institution"


def plan(claims: int, rate: float) -> dict[str, int]:
    """Cases per family: ``rate`` of the claims, shared evenly, at least one each when rate > 0."""
    if rate <= 0:
        return dict.fromkeys(FAMILIES, 0)
    cases = max(len(FAMILIES), int(round(claims * rate)))
    return dict(zip(FAMILIES, allocate(cases, np.ones(len(FAMILIES))).tolist()))


def label(frame: pl.DataFrame, family: str, detail: str | pl.Expr) -> pl.DataFrame:
    detail = pl.lit(detail) if isinstance(detail, str) else detail
    return frame.with_columns(role=pl.lit(family), family=pl.lit(family), detail=detail)


def duplicate_enrolment(world: World, people: People, n: int, rng: np.random.Generator) -> tuple[People, list]:
    """The same person registered and enrolled again in another county, as a one-person household."""
    if n == 0 or world.counties.height < 2:
        return people, []
    members = people.members
    m, year = Registry(world, people).pick(n, rng, min_age=18, max_age=70)
    k = len(m)
    county = members["county"].to_numpy()
    county_a = county[m]
    county_b = (county_a + rng.integers(1, world.counties.height, k)) % world.counties.height
    by_county = [np.flatnonzero(county == c) for c in range(world.counties.height)]
    neighbours = pick_from(by_county, county_b, rng.random(k))
    households = members.group_by("county").agg(pl.col("household").n_unique().alias("n")).sort("county")
    counts = np.zeros(world.counties.height, dtype=np.int64)
    counts[households["county"].to_numpy()] = households["n"].to_numpy()
    order = np.argsort(county_b, kind="stable")
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k) - np.searchsorted(county_b[order], county_b[order])
    codes = pl.Series(world.county_codes).gather(county_b)
    numbers = codes + pl.Series(counts[county_b] + rank + 1).cast(pl.String).str.zfill(7)
    a = members[m]
    year_s = pl.Series(year).cast(pl.String)
    new = a.with_columns(
        m=pl.Series(np.arange(members.height, members.height + k, dtype=np.int64)),
        county=pl.Series(county_b.astype(np.int32)),
        household=pl.Series(np.arange(k, dtype=np.int64) + members["household"].max() + 1),
        household_no=numbers, member_no=numbers + "01", relation=pl.lit("head"),
        township=members["township"].gather(neighbours), village=members["village"].gather(neighbours),
        home_village=members["home_village"].gather(neighbours),
        home_township=members["home_township"].gather(neighbours),
        death=pl.lit(None, pl.Int32), no_claims=pl.lit(True), family=pl.lit("duplicate_enrolment"),
        detail="also enrolled in " + pl.Series(world.county_codes).gather(county_a) + " as "
        + a["member_no"] + " in " + year_s)
    enrol = pl.DataFrame({
        "m": new["m"], "year": pl.Series(year, dtype=pl.Int32),
        "enrolled_on": pl.Series(world.year_start(year) - 92 + rng.integers(0, 92, k), dtype=pl.Int32),
        "contribution": pl.Series(year).replace_strict({y: contribution(y) for y in world.years}, return_dtype=pl.Int64)})
    people = People(pl.concat([members, new]), pl.concat([people.enrolments, enrol]))
    return people, list(zip(m.tolist(), new["m"].to_list(), year.tolist()))


def duplicate_claims(reg: Registry, n: int, pairs: list, rng: np.random.Generator) -> pl.DataFrame:
    """A visit or stay claimed twice; the first case by the same person in a second county."""
    cross = pairs[:1] if n > 0 else []
    m, year = reg.pick(n - len(cross), rng, min_age=1)
    m = np.r_[[a for a, _, _ in cross], m].astype(np.int64)
    year = np.r_[[y for _, _, y in cross], year].astype(np.int64)
    kind = (rng.random(len(m)) < 0.5).astype(np.int8)
    kind[:len(cross)] = 1
    original = reg.complete(reg.base(m, year, kind, role="duplicate_original"), rng)
    copy = label(original, "duplicate_claim", "the same care claimed a second time").with_columns(
        part=pl.lit(1, pl.Int32), copy_part=pl.lit(0, pl.Int32), twin_part=pl.lit(0, pl.Int32))
    if cross:
        b = copy["m"].to_numpy().copy()
        b[:len(cross)] = [b_member for _, b_member, _ in cross]
        elsewhere = pl.int_range(pl.len()) < len(cross)
        copy = copy.with_columns(
            m=pl.Series(b), county=pl.Series(reg.county[b].astype(np.int32)),
            detail=pl.when(elsewhere).then(pl.lit("the same stay claimed in a second county by the same national ID"))
            .otherwise(pl.col("detail")))
    return pl.concat([original, copy], how="diagonal_relaxed")


def split_admissions(reg: Registry, n: int, rng: np.random.Generator) -> pl.DataFrame:
    """One illness billed as two stays at the same institution, 1-12 days apart."""
    m, year = reg.pick(n, rng, min_age=45)
    k = len(m)
    first = reg.complete(reg.base(m, year, 1, role="split_first", dx=rng.choice(F.ADULT_ADMISSIONS, k),
                                  level=np.where(rng.random(k) < 0.6, F.TOWNSHIP, F.COUNTY),
                                  los=rng.integers(3, 9, k)), rng)
    first = first.with_columns(target=_floor(pl.col("target") * 0.6, pl.col("los")))
    gap = rng.integers(1, 13, k)
    related = first["dx"].replace(F.RELATED_DIAGNOSIS).zip_with(pl.Series(rng.random(k) < 0.4), first["dx"])
    second = label(first, "split_admission", "readmitted to the same institution soon after discharge").with_columns(
        part=pl.lit(1, pl.Int32), twin_part=pl.lit(0, pl.Int32), rel=pl.col("los") + pl.Series(gap, dtype=pl.Int32),
        los=pl.Series(rng.integers(3, 9, k), dtype=pl.Int32), dx=related)
    second = second.with_columns(target=_floor(pl.col("target") * pl.Series(rng.uniform(0.8, 1.4, k)), pl.col("los")))
    return pl.concat([first, second], how="diagonal_relaxed")


def _floor(target: pl.Expr, los: pl.Expr) -> pl.Expr:
    return pl.max_horizontal(target, los * F.MIN_COST_PER_DAY * 150).cast(pl.Int64)


def overlapping_stays(reg: Registry, n: int, rng: np.random.Generator) -> pl.DataFrame:
    """A second stay, at another institution, that begins while the first is still running."""
    m, year = reg.pick(n, rng, min_age=15)
    k = len(m)
    los = rng.integers(6, 13, k)
    first = reg.complete(reg.base(m, year, 1, role="overlap_first", level=F.TOWNSHIP, los=los), rng)
    second = reg.complete(reg.base(m, year, 1, level=F.COUNTY, los=rng.integers(3, 9, k),
                                   rel=rng.integers(1, los)), rng)
    second = label(second, "overlapping_stay", "admitted elsewhere while still in hospital").with_columns(
        part=pl.lit(1, pl.Int32), twin_part=pl.lit(0, pl.Int32))
    return pl.concat([first, second], how="diagonal_relaxed")


def outpatient_during_stays(reg: Registry, n: int, rng: np.random.Generator) -> pl.DataFrame:
    """A village clinic visit dated inside a hospital stay."""
    m, year = reg.pick(n, rng, min_age=1)
    k = len(m)
    los = rng.integers(5, 13, k)
    level = np.where(rng.random(k) < 0.5, F.TOWNSHIP, F.COUNTY)
    stay = reg.complete(reg.base(m, year, 1, role="stay_with_visit", level=level, los=los), rng)
    visit = reg.complete(reg.base(m, year, 0, level=F.VILLAGE, rel=rng.integers(1, los)), rng)
    visit = label(visit, "outpatient_during_stay", "outpatient visit dated during an inpatient stay").with_columns(
        part=pl.lit(1, pl.Int32), twin_part=pl.lit(0, pl.Int32))
    return pl.concat([stay, visit], how="diagonal_relaxed")


def care_after_death(reg: Registry, n: int, rng: np.random.Generator) -> pl.DataFrame:
    m, year = reg.pick(n, rng, died=True)
    k = len(m)
    kind = (rng.random(k) < 0.3).astype(np.int8)
    los = np.where(kind == 1, rng.integers(2, 7, k), 0)
    death = reg.death[m]
    latest = reg.world.year_start(year + 1) - 2 - los
    start = np.minimum(death + rng.integers(3, 41, k), latest)
    frame = reg.complete(reg.base(m, year, kind, level=np.where(kind == 1, F.TOWNSHIP, F.VILLAGE), los=los,
                                  fixed_start=start), rng)
    died = date(pl.lit(pl.Series(death)))
    return label(frame, "care_after_death", "care dated after the member's death on " + died)


def ghost_stays(reg: Registry, n: int, rng: np.random.Generator) -> pl.DataFrame:
    """Long stays of old members with almost nothing billed but the bed (挂床住院)."""
    m, year = reg.pick(n, rng, min_age=60)
    k = len(m)
    los = rng.integers(20, 46, k)
    frame = reg.complete(reg.base(m, year, 1, level=np.where(rng.random(k) < 0.7, F.TOWNSHIP, F.COUNTY), los=los,
                                  dx=rng.choice(("I10", "J44.1", "M51.2", "E11.9"), k), mode="ghost", lines=3,
                                  uncovered=False, target=los * rng.integers(1700, 2300, k)), rng)
    return label(frame, "ghost_stay", pl.col("los").cast(pl.String) + "-day stay with almost no treatment billed")


def low_standard_admissions(reg: Registry, n: int, rng: np.random.Generator) -> pl.DataFrame:
    """Short, cheap admissions for conditions treated as outpatients (低标准入院)."""
    m, year = reg.pick(n, rng, min_age=5)
    k = len(m)
    los = rng.integers(1, 4, k)
    frame = reg.complete(reg.base(m, year, 1, level=np.where(rng.random(k) < 0.8, F.TOWNSHIP, F.COUNTY), los=los,
                                  dx=rng.choice(F.OUTPATIENT_GRADE, k), lines=rng.integers(3, 6, k), uncovered=False,
                                  target=np.maximum(rng.integers(25000, 70000, k), los * 15000)), rng)
    return label(frame, "low_standard_admission", "admitted for " + pl.col("dx")
                 + ", a condition treated as an outpatient, for " + pl.col("los").cast(pl.String) + " days")


def not_enrolled(reg: Registry, n: int, rng: np.random.Generator) -> pl.DataFrame:
    m, year = reg.pick(n, rng, enrolled=False, min_age=1)
    frame = reg.complete(reg.base(m, year, (rng.random(len(m)) < 0.4).astype(np.int8)), rng)
    return label(frame, "not_enrolled", "claim of a member not enrolled in " + pl.col("year").cast(pl.String))


def missing_referrals(reg: Registry, n: int, rng: np.random.Generator) -> pl.DataFrame:
    """Out-of-county stays without referral, paid as if referred."""
    w = reg.world
    ok = np.flatnonzero((w.referral_required & (w.cut_bp[:, :, F.MUNICIPAL:] > 0).all(axis=2)).all(axis=1))
    m, year = reg.pick(n, rng, min_age=18, counties=ok)
    k = len(m)
    level = rng.choice((F.MUNICIPAL, F.PROVINCIAL, F.OUT_OF_PROVINCE), k, p=(0.6, 0.3, 0.1))
    frame = reg.complete(reg.base(m, year, 1, level=level, referral=0, pay="no_cut"), rng)
    frame = frame.with_columns(target=pl.min_horizontal("target", pl.lit(2_500_000)))  # far below any cap
    return label(frame, "missing_referral", "out-of-county stay without referral paid at the referred ratio")


def cap_breaches(reg: Registry, n: int, rng: np.random.Generator) -> tuple[pl.DataFrame, np.ndarray]:
    """Two large referred stays whose compensation, paid without counting, passes the annual cap."""
    m, year = reg.pick(n, rng, min_age=40, max_age=75)
    k = len(m)
    w = reg.world
    c, yi = reg.county[m], w.year_index(year)
    parts, rel = [], np.zeros(k, dtype=np.int64)
    share = rng.uniform(1.2, 1.4, k) / 2
    for part in range(2):
        level = np.where(rng.random(k) < 0.7, F.PROVINCIAL, F.OUT_OF_PROVINCE)
        los = rng.integers(15, 26, k)
        ratio = w.ratio_bp[c, yi, 1, level] / 10000
        eligible = w.annual_cap[c, yi] * share / np.maximum(ratio, 0.05) + w.deductible[c, yi, 1, level]
        frame = reg.complete(reg.base(m, year, 1, level=level, los=los, referral=1, rel=rel, pay="no_cap",
                                      mode="covered", uncovered=False, role="cap_breach", target=np.ceil(eligible),
                                      dx=rng.choice(("C34.9", "I25.1", "I63.9", "S72.0"), k)), rng)
        parts.append(frame.with_columns(part=pl.lit(part, pl.Int32)))
        rel = rel + los + 1 + rng.integers(20, 41, k)
    return pl.concat(parts, how="diagonal_relaxed"), m
