"""Claim specifications: who is treated, for what, where, how long and at what cost.

A *spec* is a claim before it has dates: member, kind, institution level and code, main
diagnosis, length of stay, target cost, drug share and number of lines. Specs are grouped in
*blocks* (one stay, or a stay and the claims whose dates depend on it) that ``calendar``
later places in the member's year. Normal care is drawn here; the misuse and near-miss
blocks (``units``) reuse ``complete`` with some columns already set.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from . import figures as F
from .draw import allocate, by_band, categorical, fill
from .population import People
from .world import World, day

AGES = 101


def diagnosis_table(world: World) -> pl.DataFrame:
    """The diagnosis mix, each code's sex and ages tightened by ``restrictions.csv``."""
    rows = []
    rules = world.diagnosis_rules.to_dicts()
    for code, kind, weight, sex, lo, hi, cost, los in F.DIAGNOSES:
        sex_code = -1 if sex is None else int(sex == "M")
        for rule in rules:
            if code.startswith(rule["code"]):
                sex_code = sex_code if rule["allowed_sex"] is None else rule["allowed_sex"]
                lo = max(lo, rule["min_age"] or 0)
                hi = min(hi, 120 if rule["max_age"] is None else rule["max_age"])
        rows.append((code, int(kind == "inpatient"), float(weight), sex_code, lo, hi, cost, los))
    return pl.DataFrame(rows, orient="row", schema=["dx", "kind", "weight", "sex", "min_age", "max_age",
                                                      "cost_factor", "los_factor"])


def _dx_weights(dx: pl.DataFrame) -> np.ndarray:
    """Weights for every (kind, sex, age on 1 January, birthday in the year) combination."""
    kind, sex, age, turns = np.meshgrid(np.arange(2), np.arange(2), np.arange(AGES), np.arange(2), indexing="ij")
    kind, sex, age, end = (a.ravel()[:, None] for a in (kind, sex, age, age + turns))
    ok = ((dx["kind"].to_numpy() == kind) & ((dx["sex"].to_numpy() < 0) | (dx["sex"].to_numpy() == sex))
          & (dx["min_age"].to_numpy() <= age) & (end <= dx["max_age"].to_numpy()))
    return ok * dx["weight"].to_numpy()


def draw_diagnoses(dx: pl.DataFrame, kind: np.ndarray, sex: np.ndarray, age_start: np.ndarray,
                   age_end: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    age = np.clip(age_start, 0, AGES - 1)
    row = ((kind * 2 + sex) * AGES + age) * 2 + np.clip(age_end - age_start, 0, 1)
    return categorical(_dx_weights(dx), row, rng)


DEFAULTS = {"rel": (0, pl.Int32), "mode": ("normal", pl.String), "role": ("normal", pl.String),
            "pay": ("formula", pl.String), "family": (None, pl.String), "detail": (None, pl.String),
            "twin_part": (None, pl.Int32), "copy_part": (None, pl.Int32), "fixed_start": (None, pl.Int32)}


def complete(world: World, people: People, base: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Draw every column of the specs that the caller did not set (null means: draw it).

    ``base`` has at least ``m``, ``county``, ``year`` and ``kind``. Every column is drawn for
    every row, whether it is kept or not, so that the random stream does not depend on which
    columns a caller set.
    """
    m, kind = base["m"].to_numpy(), base["kind"].to_numpy().astype(np.int64)
    dx = diagnosis_table(world)
    age_start, age_end = people.ages(m, base["year"].to_numpy())
    sex = people.members["sex"].to_numpy()[m].astype(np.int64)
    frame = fill(base, "dx", dx["dx"].gather(draw_diagnoses(dx, kind, sex, age_start, age_end, rng)), pl.String)
    level_p = np.zeros((3, len(F.LEVELS)))
    for row, table in enumerate((F.OUTPATIENT_LEVEL_P, F.INPATIENT_LEVEL_P, F.OUTPATIENT_LEVEL_P_COUNTY_PAID)):
        level_p[row, list(table)] = list(table.values())
    # outpatient care at the county hospital where the county's scheme of the year pays it
    county_paid = world.ratio_bp[base["county"].to_numpy(), world.year_index(base["year"].to_numpy()), 0, F.COUNTY] > 0
    frame = fill(frame, "level", categorical(level_p, np.where((kind == 0) & county_paid, 2, kind), rng), pl.Int8)
    level = frame["level"].to_numpy().astype(np.int64)
    frame = fill(frame, "inst", pick_institution(world, people, m, base["county"].to_numpy(), level, rng), pl.Int32)
    referred = (level >= F.MUNICIPAL) & (rng.random(base.height) < F.REFERRAL_SHARE)
    frame = fill(frame, "referral", referred.astype(np.int8), pl.Int8)
    frame = _stay(frame, dx, kind, level, rng)
    for name, (value, dtype) in DEFAULTS.items():
        frame = fill(frame, name, pl.repeat(value, base.height, dtype=dtype, eager=True), dtype)
    return frame


def _stay(frame: pl.DataFrame, dx: pl.DataFrame, kind: np.ndarray, level: np.ndarray,
          rng: np.random.Generator) -> pl.DataFrame:
    """Length of stay, target cost, drug share, number of lines and whether an uncovered item is billed."""
    n = frame.height
    factors = frame.select("dx").join(dx.filter(pl.col("kind") == 1).select("dx", "cost_factor", "los_factor"),
                                      on="dx", how="left", maintain_order="left")
    by_level = lambda table, default: np.array([table.get(lv, default) for lv in range(len(F.LEVELS))])[level]
    mean_los = by_level(F.INPATIENT_LOS_MEAN, 6) * factors["los_factor"].fill_null(1.0).to_numpy()
    frame = fill(frame, "los", np.clip(1 + rng.poisson(np.maximum(mean_los - 1, 0.5)), *F.LOS_RANGE) * kind, pl.Int32)
    target = _target(kind, level, factors["cost_factor"].fill_null(1.0).to_numpy(), frame["los"].to_numpy(), rng)
    frame = fill(frame, "target", target, pl.Int64)
    share = by_level(F.DRUG_SHARE, 0.4) + rng.normal(0, 0.04, n)
    frame = fill(frame, "drug_share", np.clip(share, 0.1, 0.85), pl.Float64)
    lines_in = rng.integers(np.where(level >= F.MUNICIPAL, 6, F.INPATIENT_LINES[0]), F.INPATIENT_LINES[1] + 1)
    lines_out = 1 + categorical(np.array([F.OUTPATIENT_LINES_P]), np.zeros(n, dtype=np.int64), rng)
    frame = fill(frame, "lines", np.where(kind == 1, lines_in, lines_out), pl.Int32)
    uncovered = (kind == 1) & (level >= F.COUNTY) & (rng.random(n) < F.UNCOVERED_SHARE)
    return fill(frame, "uncovered", uncovered, pl.Boolean)


def pick_institution(world: World, people: People, m: np.ndarray, county: np.ndarray, level: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    """Village and township care at the member's own clinics; higher levels from the county's pools."""
    members = people.members
    n_pool = world.pool_n[county, level]
    pooled = world.pool[county, level, (rng.random(len(m)) * n_pool).astype(np.int64)]
    own = np.where(level == F.VILLAGE, members["home_village"].to_numpy()[m],
                   members["home_township"].to_numpy()[m])
    return np.where(level <= F.TOWNSHIP, own, pooled).astype(np.int32)


def _target(kind: np.ndarray, level: np.ndarray, cost_factor: np.ndarray, los: np.ndarray,
            rng: np.random.Generator) -> np.ndarray:
    """Cost to aim the items at, in fen: log-normal by level, at least the clean floor per day."""
    n = len(kind)
    median_in = np.array([F.INPATIENT_COST_MEDIAN.get(lv, 1300) for lv in range(len(F.LEVELS))])[level]
    inpatient = median_in * cost_factor * rng.lognormal(0, F.INPATIENT_COST_SIGMA, n)
    inpatient = np.maximum(inpatient, los * F.MIN_COST_PER_DAY * 1.2)
    median_out = np.array([F.OUTPATIENT_COST_MEDIAN.get(lv, 50) for lv in range(len(F.LEVELS))])[level]
    outpatient = np.clip(median_out * rng.lognormal(0, 0.5, n), *F.OUTPATIENT_COST_RANGE)
    return np.round(np.where(kind == 1, inpatient, outpatient) * 100).astype(np.int64)


def normal_specs(world: World, people: People, total: int, rng: np.random.Generator) -> pl.DataFrame:
    """Ordinary care: ``total`` claims over counties and years in proportion to enrolled members."""
    members = people.members
    enrolled = people.enrolments.join(members.select("m", "county", "no_claims"), on="m", how="left",
                                      maintain_order="left").filter(~pl.col("no_claims"))
    groups = enrolled.group_by("county", "year", maintain_order=True).agg("m").sort("county", "year")
    counts = allocate(total, groups["m"].list.len().to_numpy())
    sex = members["sex"].to_numpy()
    death = members["death"].fill_null(2**31 - 1).to_numpy()
    frames = []
    for (county, year, pool), n in zip(groups.iter_rows(), counts):
        pool = np.asarray(pool)
        n_in = int(round(n * F.ADMISSIONS_PER_MEMBER_YEAR / (F.ADMISSIONS_PER_MEMBER_YEAR + F.OUTPATIENT_PER_MEMBER_YEAR)))
        age = people.ages(pool, year)[0]
        alive = np.clip((death[pool] - day(year)) / (day(year + 1) - day(year)), 0.02, 1.0)
        women = (sex[pool] == 0) & (age >= 18) & (age <= 40)
        w_in = by_band(age, F.INPATIENT_AGE_WEIGHT) * np.where(women, F.FERTILE_WOMEN_INPATIENT_BOOST, 1.0) * alive
        w_out = by_band(age, F.OUTPATIENT_AGE_WEIGHT) * alive
        chosen = np.concatenate([rng.choice(pool, size=n - n_in, p=w_out / w_out.sum()),
                                 rng.choice(pool, size=n_in, p=w_in / w_in.sum())])
        frames.append(pl.DataFrame({
            "m": chosen, "county": np.full(n, county, dtype=np.int32), "year": np.full(n, year, dtype=np.int32),
            "kind": np.r_[np.zeros(n - n_in), np.ones(n_in)].astype(np.int8)}))
    base = pl.concat(frames) if frames else pl.DataFrame(schema={"m": pl.Int64, "county": pl.Int32,
                                                                  "year": pl.Int32, "kind": pl.Int8})
    return complete(world, people, base, rng)
