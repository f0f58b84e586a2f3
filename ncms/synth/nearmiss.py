"""Clean care that looks like misuse at first sight, so a rule's exclusions are tested too.

Chemotherapy is given in cycles: a cancer patient is admitted for 2-4 days every 14 days,
at the same hospital, with main diagnosis Z51.1, so readmissions 10-12 days after discharge
are normal and must not be read as split admissions. Other patients are readmitted for the
same condition 16-20 days after discharge, just outside the usual 15-day window.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from . import figures as F
from .registry import Registry

CHEMO_CYCLE_DAYS = 14


def chemotherapy(reg: Registry, n: int, rng: np.random.Generator) -> pl.DataFrame:
    m, year = reg.pick(n, rng, min_age=40, max_age=80)
    k = len(m)
    level = rng.choice((F.COUNTY, F.MUNICIPAL, F.PROVINCIAL), k, p=(0.5, 0.3, 0.2))
    median = np.array([F.INPATIENT_COST_MEDIAN.get(lv, 1300) for lv in range(len(F.LEVELS))])[level]
    first = reg.complete(reg.base(m, year, 1, role="chemotherapy", dx=F.CHEMOTHERAPY, level=level,
                                  referral=(level >= F.MUNICIPAL).astype(np.int8), uncovered=False,
                                  los=rng.integers(2, 5, k), target=np.round(median * 60 * rng.lognormal(0, 0.3, k))), rng)
    cycles = rng.integers(3, 7, k)
    rows = np.repeat(np.arange(k), cycles)
    cycle = np.arange(len(rows)) - np.repeat(np.cumsum(cycles) - cycles, cycles)
    los = rng.integers(2, 5, len(rows))
    series = first[rows].with_columns(
        part=pl.Series(cycle, dtype=pl.Int32), rel=pl.Series(cycle * CHEMO_CYCLE_DAYS, dtype=pl.Int32),
        los=pl.Series(los, dtype=pl.Int32),
        target=pl.Series(np.maximum(first["target"].to_numpy()[rows] * rng.uniform(0.85, 1.15, len(rows)),
                                    los * F.MIN_COST_PER_DAY * 150).astype(np.int64)))
    return series


def readmissions_after_window(reg: Registry, n: int, rng: np.random.Generator) -> pl.DataFrame:
    """The same condition, the same institution, readmitted on day 16-20 after discharge."""
    m, year = reg.pick(n, rng, min_age=30)
    k = len(m)
    first = reg.complete(reg.base(m, year, 1, role="readmission_after_window", dx=rng.choice(F.ADULT_ADMISSIONS, k),
                                  level=np.where(rng.random(k) < 0.5, F.TOWNSHIP, F.COUNTY),
                                  los=rng.integers(4, 9, k)), rng)
    second = first.with_columns(
        part=pl.lit(1, pl.Int32), rel=pl.col("los") + pl.Series(rng.integers(16, 21, k), dtype=pl.Int32),
        los=pl.Series(rng.integers(3, 8, k), dtype=pl.Int32))
    second = second.with_columns(target=pl.max_horizontal(pl.col("target") * 0.8, pl.col("los") * 15000).cast(pl.Int64))
    return pl.concat([first, second], how="diagonal_relaxed")
