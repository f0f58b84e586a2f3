"""Institutions that behave unlike their peers, for the anomaly detection to find.

No single claim of theirs breaks a rule; together they stand out against the other
institutions of their level: cost per case two to three times the peers', a drug share 25
points higher, stays twice as long (still costing more than the clean floor per day), or, at
township health centres, most outpatient visits billed just under the per-visit cap.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from . import figures as F
from .misuse import ANOMALOUS_INSTITUTION
from .world import World

PATTERNS = ("cost", "drugs", "los", "cap")


def anomalous_institutions(world: World, specs: pl.DataFrame, n: int,
                           rng: np.random.Generator) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Pick ``n`` township or county institutions with enough claims and change their normal care."""
    counts = (specs.filter(pl.col("role") == "normal").group_by("inst").len()
              .join(world.institutions.select("inst", "level", "code", "county"), on="inst")
              .filter(pl.col("level").is_in([F.TOWNSHIP, F.COUNTY]) & (pl.col("county") >= 0))
              .sort("inst"))
    busy = counts.filter(pl.col("len") >= 20)
    pool = busy if busy.height >= n else counts
    if n <= 0 or pool.height == 0:
        return specs, _truth([], [], [], [])
    chosen = pool[np.sort(rng.choice(pool.height, size=min(n, pool.height), replace=False))]
    table: dict[str, list] = {"inst": [], "cost_x": [], "drugs_x": [], "los_x": [], "cap_x": []}
    details = []
    for inst, level in zip(chosen["inst"].to_list(), chosen["level"].to_list()):
        options = PATTERNS if level == F.TOWNSHIP else PATTERNS[:3]
        picked = set(rng.choice(options, size=2, replace=False).tolist())
        cost = float(rng.uniform(2, 3)) if "cost" in picked else 1.0
        table["inst"].append(inst)
        table["cost_x"].append(cost)
        table["drugs_x"].append(0.25 if "drugs" in picked else 0.0)
        table["los_x"].append(2 if "los" in picked else 1)
        table["cap_x"].append("cap" in picked)
        details.append("; ".join(d for p, d in (
            ("cost", f"cost per case x{cost:.1f}"), ("drugs", "drug share +25 points"),
            ("los", "length of stay x2"), ("cap", "outpatient visits just under the per-visit cap")) if p in picked))
    specs = _apply(world, specs, pl.DataFrame(table, schema_overrides={"inst": pl.Int32, "los_x": pl.Int32}), rng)
    codes = chosen["code"].to_list()
    return specs, _truth(world.institutions["area_code"].gather(chosen["inst"]).to_list(), codes, details,
                         [ANOMALOUS_INSTITUTION] * len(codes))


def _apply(world: World, specs: pl.DataFrame, table: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    specs = specs.join(table, on="inst", how="left", maintain_order="left")
    c, yi = specs["county"].to_numpy(), world.year_index(specs["year"].to_numpy())
    level = specs["level"].to_numpy().astype(np.int64)
    cap, ratio = world.visit_cap[c, yi, 0, level], world.ratio_bp[c, yi, 0, level]
    just_under = np.floor(cap * 10000 / np.maximum(ratio, 1) * rng.uniform(0.96, 0.995, specs.height))
    can_cap = (cap > 0) & (ratio > 0) & (rng.random(specs.height) < 0.6)
    hit = pl.col("cost_x").is_not_null() & (pl.col("role") == "normal")
    stays = hit & (pl.col("kind") == 1)
    longer = pl.when(stays).then(pl.col("los") * pl.col("los_x")).otherwise(pl.col("los"))
    specs = specs.with_columns(los=longer.cast(pl.Int32))
    target = pl.when(hit).then(pl.col("target") * pl.col("cost_x")).otherwise(pl.col("target"))
    under = hit & pl.col("cap_x") & (pl.col("kind") == 0) & pl.lit(pl.Series(can_cap))
    target = pl.when(under).then(pl.lit(pl.Series(just_under))).otherwise(target)
    return specs.with_columns(
        target=pl.when(hit).then(pl.max_horizontal(target, pl.col("los") * F.MIN_COST_PER_DAY * 120))
        .otherwise(pl.col("target")).cast(pl.Int64),
        drug_share=pl.when(hit).then((pl.col("drug_share") + pl.col("drugs_x")).clip(0.1, 0.9))
        .otherwise(pl.col("drug_share")),
        role=pl.when(hit).then(pl.lit("anomalous")).otherwise(pl.col("role")),
    ).drop("cost_x", "drugs_x", "los_x", "cap_x")


def _truth(counties: list, keys: list, details: list, families: list) -> pl.DataFrame:
    return pl.DataFrame({"family": families, "county_code": counties, "subject_kind": ["institution"] * len(keys),
                         "subject_key": keys, "detail": details}, schema={
        "family": pl.String, "county_code": pl.String, "subject_kind": pl.String,
        "subject_key": pl.String, "detail": pl.String})
