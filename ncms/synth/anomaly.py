"""Institutions that behave unlike their peers, for the anomaly detection to find.

No single claim of theirs breaks a rule; together they stand out against the other
institutions of their level. One pattern each (``PATTERNS``), labelled with it:

- ``cost``: cost per case two to three times the peers';
- ``drugs`` (大处方, big prescriptions): every claim 1.5-1.8 times dearer, the extra all drugs;
- ``los``: stays twice as long, billing 1.3-1.6 times as much (the extra days' beds and care);
- ``cap``: at township health centres, most outpatient visits billed just under the per-visit cap;
- ``ghost`` (挂床): half or more of the stays turned into long, almost empty ones for chronic
  conditions, 10-14 days at 55-90 yuan a day (below the ``ghost_stay`` rule's 15 days and
  above its 50 yuan a day: each stay passes, the institution's cost per bed day does not);
- ``low_standard`` (低标准入院): as many admissions again, each an outpatient visit of a member
  of the county turned into a 2-3 day, 350-900 yuan stay for a mild condition off the
  ``low_standard_admission`` rule's list (acute bronchitis, gastritis, diarrhoea,
  hypertension): more admissions per member of the area, a larger share of short, cheap stays.

They are picked across sizes (``SIZES``): small township centres (under 40 stays a year),
larger ones, and county hospitals; the busiest township centre of each county stays clean (it
is the large-but-normal institution the model must not flag for its size).
"""
from __future__ import annotations

import numpy as np
import polars as pl

from . import figures as F
from .misuse import ANOMALOUS_INSTITUTION
from .world import World

PATTERNS = ("cost", "drugs", "los", "cap", "ghost", "low_standard")
SIZES = ("small township", "township", "county")
SMALL_TOWNSHIP_STAYS = 40  # a year
DETAILS = {"cost": "cost per case x{cost:.1f}", "drugs": "big prescriptions: cost x{cost:.1f}, the extra all drugs", "los": "length of stay x2, cost x{cost:.1f}",
           "cap": "outpatient visits just under the per-visit cap",
           "ghost": "stays of 10-14 days at 55-90 yuan a day (挂床)",
           "low_standard": "short cheap admissions for mild conditions, as many again (低标准入院)"}
COST_X = {"cost": (2.0, 3.0), "drugs": (1.5, 1.8), "los": (1.3, 1.6)}
GHOST_DIAGNOSES = ("I10", "M51.2", "E11.9")
MILD_DIAGNOSES = ("J20.9", "K29.7", "A09", "I10")


def size_of(level: int, stays: float) -> str:
    """An institution's size class, by its stays in a year."""
    if level == F.COUNTY:
        return "county"
    return "small township" if stays < SMALL_TOWNSHIP_STAYS else "township"


def anomalous_institutions(world: World, specs: pl.DataFrame, n: int,
                           rng: np.random.Generator) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pick ``n`` township or county institutions, one pattern each (the patterns in turn), a
    small township centre first for each pattern, then a county hospital or a larger centre
    (drawn; a larger centre for ``cap``, and once a quarter of the county hospitals are taken),
    then a small one again, and so on."""
    pool = _candidates(world, specs)
    if n <= 0 or pool.height == 0:
        return specs, _truth([], [], [], [], [])
    taken: set[int] = set()
    chosen: list[tuple[int, str, str]] = []
    for slot in range(n):
        pattern = PATTERNS[slot % len(PATTERNS)]
        turn = slot // len(PATTERNS)
        larger = SIZES[1 + int(rng.integers(2))]
        hospitals = sum(1 for _, _, size in chosen if size == "county")
        if pattern == "cap" or hospitals >= pool.filter(pl.col("size") == "county").height // 4:
            larger = "township"  # at most a quarter of the county hospitals: they are peers of one another
        wanted = ["small township"] if turn % 2 == 0 else [larger]
        for size in (*wanted, *SIZES):
            fits = pool.filter((pl.col("size") == size) & ~pl.col("inst").is_in(list(taken)))
            if pattern == "cap":
                fits = fits.filter(pl.col("level") == F.TOWNSHIP)
            if fits.height:
                inst = int(fits["inst"][int(rng.integers(fits.height))])
                taken.add(inst)
                chosen.append((inst, pattern, size))
                break
    table = pl.DataFrame({"inst": [c[0] for c in chosen], "pattern": [c[1] for c in chosen],
                          "cost_x": [float(rng.uniform(*COST_X[c[1]])) if c[1] in COST_X else 1.0
                                     for c in chosen]},
                         schema_overrides={"inst": pl.Int32})
    specs = _apply(world, specs, table, rng)
    codes = world.institutions["code"].gather(table["inst"]).to_list()
    details = [DETAILS[p].format(cost=x) for p, x in zip(table["pattern"], table["cost_x"])]
    return specs, _truth(world.institutions["area_code"].gather(table["inst"]).to_list(), codes, details,
                         table["pattern"].to_list(), [c[2] for c in chosen])


def _candidates(world: World, specs: pl.DataFrame) -> pl.DataFrame:
    """Township centres and county hospitals of the counties with their stays a year and size,
    less the busiest township centre of each county."""
    years = max(len(world.years), 1)
    normal = specs.filter(pl.col("role") == "normal")
    counts = (world.institutions.select("inst", "level", "county")
              .filter(pl.col("level").is_in([F.TOWNSHIP, F.COUNTY]) & (pl.col("county") >= 0))
              .join(normal.group_by("inst").agg(claims=pl.len(), stays=(pl.col("kind") == 1).sum()),
                    on="inst", how="left").fill_null(0)
              .with_columns(stays=pl.col("stays") / years).sort("inst"))
    busiest = counts.filter(pl.col("level") == F.TOWNSHIP).sort("claims", "inst", descending=[True, False]) \
        .group_by("county", maintain_order=True).first()["inst"]
    counts = counts.filter(~pl.col("inst").is_in(busiest.implode()) & (pl.col("stays") >= 5))
    return counts.with_columns(size=pl.struct("level", "stays").map_elements(
        lambda r: size_of(r["level"], r["stays"]), return_dtype=pl.String))


def _apply(world: World, specs: pl.DataFrame, table: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    specs = specs.join(table, on="inst", how="left", maintain_order="left")
    specs = _low_standard(world, specs, table, rng)
    n = specs.height
    c, yi = specs["county"].to_numpy(), world.year_index(specs["year"].to_numpy())
    level = specs["level"].to_numpy().astype(np.int64)
    cap, ratio = world.visit_cap[c, yi, 0, level], world.ratio_bp[c, yi, 0, level]
    just_under = np.floor(cap * 10000 / np.maximum(ratio, 1) * rng.uniform(0.96, 0.995, n))
    can_cap = (cap > 0) & (ratio > 0) & (rng.random(n) < 0.6)
    ghost_pick = rng.random(n) < rng.uniform(0.5, 0.7)
    ghost_los, ghost_day = rng.integers(10, 15, n), rng.integers(5500, 9001, n)
    ghost_dx = pl.Series(GHOST_DIAGNOSES).gather(rng.integers(0, len(GHOST_DIAGNOSES), n))
    hit = pl.col("pattern").is_not_null() & (pl.col("role") == "normal")
    stays = hit & (pl.col("kind") == 1)
    ghost = stays & (pl.col("pattern") == "ghost") & pl.lit(pl.Series(ghost_pick))
    longer = (pl.when(ghost).then(pl.lit(pl.Series(ghost_los)))
              .when(stays & (pl.col("pattern") == "los")).then(pl.col("los") * 2).otherwise(pl.col("los")))
    specs = specs.with_columns(los=longer.cast(pl.Int32))
    target = pl.when(hit).then(pl.col("target") * pl.col("cost_x")).otherwise(pl.col("target"))
    target = pl.max_horizontal(target, pl.col("los") * F.MIN_COST_PER_DAY * 120)
    under = hit & (pl.col("pattern") == "cap") & (pl.col("kind") == 0) & pl.lit(pl.Series(can_cap))
    target = (pl.when(under).then(pl.lit(pl.Series(just_under)))
              .when(ghost).then(pl.col("los") * pl.lit(pl.Series(ghost_day))).otherwise(target))
    return specs.with_columns(
        target=pl.when(hit).then(target).otherwise(pl.col("target")).cast(pl.Int64),
        dx=pl.when(ghost).then(pl.lit(ghost_dx)).otherwise(pl.col("dx")),
        lines=pl.when(ghost).then(pl.lit(3, pl.Int32)).otherwise(pl.col("lines")),
        uncovered=pl.when(ghost).then(pl.lit(False)).otherwise(pl.col("uncovered")),
        drug_share=pl.when(hit & (pl.col("pattern") == "drugs"))
        .then(((pl.col("drug_share") + pl.col("cost_x") - 1) / pl.col("cost_x")).clip(0.1, 0.9))
        .otherwise(pl.col("drug_share")),
        role=pl.when(hit).then(pl.lit("anomalous")).otherwise(pl.col("role")),
    ).drop("pattern", "cost_x")


def _low_standard(world: World, specs: pl.DataFrame, table: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Outpatient visits of members of each ``low_standard`` institution's county turned into
    short, cheap admissions there, as many as its own stays."""
    chosen = table.filter(pl.col("pattern") == "low_standard")
    if chosen.height == 0:
        return specs
    counties = world.institutions["county"].to_numpy()
    levels = world.institutions["level"].to_numpy()
    turned = np.full(specs.height, -1, dtype=np.int64)
    kind, county, role = specs["kind"].to_numpy(), specs["county"].to_numpy(), specs["role"].to_numpy()
    inst = specs["inst"].to_numpy()
    for target in chosen["inst"].to_list():
        own = int(((inst == target) & (kind == 1) & (role == "normal")).sum())
        visits = np.flatnonzero((kind == 0) & (county == counties[target]) & (role == "normal") & (turned < 0))
        k = min(len(visits), int(round(own * rng.uniform(0.9, 1.2))))
        turned[rng.choice(visits, size=k, replace=False)] = target
    n = specs.height
    picked = pl.lit(pl.Series(turned >= 0))
    to = pl.Series(turned.astype(np.int32))
    los = rng.integers(2, 4, n)
    return specs.with_columns(
        kind=pl.when(picked).then(pl.lit(1, pl.Int8)).otherwise(pl.col("kind")),
        inst=pl.when(picked).then(pl.lit(to)).otherwise(pl.col("inst")),
        level=pl.when(picked).then(pl.lit(pl.Series(levels[np.maximum(turned, 0)].astype(np.int8))))
        .otherwise(pl.col("level")),
        pattern=pl.when(picked).then(pl.lit("low_standard")).otherwise(pl.col("pattern")),
        cost_x=pl.when(picked).then(pl.lit(1.0)).otherwise(pl.col("cost_x")),
        los=pl.when(picked).then(pl.lit(pl.Series(los.astype(np.int32)))).otherwise(pl.col("los")),
        dx=pl.when(picked).then(pl.lit(pl.Series(MILD_DIAGNOSES).gather(rng.integers(0, len(MILD_DIAGNOSES), n))))
        .otherwise(pl.col("dx")),
        target=pl.when(picked).then(pl.lit(pl.Series(rng.integers(35000, 90001, n)))).otherwise(pl.col("target")),
        lines=pl.when(picked).then(pl.lit(pl.Series(rng.integers(3, 6, n).astype(np.int32)))).otherwise(pl.col("lines")),
        uncovered=pl.when(picked).then(pl.lit(False)).otherwise(pl.col("uncovered")),
        referral=pl.when(picked).then(pl.lit(0, pl.Int8)).otherwise(pl.col("referral")),
        drug_share=pl.when(picked).then(pl.lit(pl.Series(
            np.array([F.DRUG_SHARE.get(int(lv), 0.4) for lv in levels])[np.maximum(turned, 0)])))
        .otherwise(pl.col("drug_share")))


def _truth(counties: list, keys: list, details: list, patterns: list, sizes: list) -> pl.DataFrame:
    return pl.DataFrame({"family": [ANOMALOUS_INSTITUTION] * len(keys), "county_code": counties,
                         "subject_kind": ["institution"] * len(keys), "subject_key": keys,
                         "detail": [f"{p} ({s}): {d}" for p, s, d in zip(patterns, sizes, details)]}, schema={
        "family": pl.String, "county_code": pl.String, "subject_kind": pl.String,
        "subject_key": pl.String, "detail": pl.String})
