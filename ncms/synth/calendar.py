"""Dates: every member's blocks of care laid out in their year so that none collide by accident.

A member's blocks are taken in the order of a seasonal preferred day (more admissions in
winter) and pushed apart so that each starts after the previous one ends; after a block with
a stay, the next block with a stay starts 16 days or more after the discharge, so the only
readmissions within 15 days are the injected split admissions and the chemotherapy cycles.
Stays keep 8 days away from the turn of the year for the same reason across years, and no
care is placed after the member's death. Both bounds are prefix scans (a running maximum
forward, a running minimum backward), so the layout is two sorts and a few window functions.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from . import figures as F
from .draw import order_by, seasonal_days
from .world import World

SHIFT = 1 << 32
GAP_AFTER_STAY = 15  # days strictly between a discharge and the next admission, minus one
YEAR_MARGIN = 8


def place(specs: pl.DataFrame, death: np.ndarray, world: World, rng: np.random.Generator) -> pl.DataFrame:
    """Add ``start`` (day of the block) to every spec; normal blocks that cannot fit are dropped."""
    b = _blocks(specs, death, world, rng)
    start = b["fixed"].copy()
    keep = np.ones(len(start), dtype=bool)
    free = b["fixed"] < 0
    laid = np.flatnonzero(free)
    for attempt in range(5):
        start[laid] = _layout({k: v[laid] for k, v in b.items()})
        bad = laid[start[laid] < b["lo"][laid]]
        if len(bad) == 0:
            break
        crowded = np.isin(b["key"], b["key"][bad]) & free & keep
        normal = crowded & b["normal"]
        keep[np.flatnonzero(normal) if attempt < 3 and normal.any() else bad] = False
        laid = np.flatnonzero(crowded & keep)  # lay out again only the members' years that overflowed
    keep &= ~free | (start >= b["lo"])
    specs = specs.with_columns(start=pl.Series(np.repeat(start, b["size"]), dtype=pl.Int64))
    return specs if keep.all() else specs.filter(pl.Series(np.repeat(keep, b["size"])))


def _blocks(specs: pl.DataFrame, death: np.ndarray, world: World, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One entry per block (specs of a block are contiguous): its member, span, window and preferred day."""
    block = specs["block"].to_numpy()
    if len(block) and (np.diff(block) < 0).any():
        raise AssertionError("specs must be in block order")
    first = np.flatnonzero(np.r_[True, block[1:] != block[:-1]]) if len(block) else np.zeros(0, dtype=np.int64)
    stay = specs["kind"].to_numpy() == 1
    end = specs["rel"].to_numpy() + np.where(stay, specs["los"].to_numpy() + 1, 1)
    m, year = specs["m"].to_numpy()[first], specs["year"].to_numpy()[first]
    span = np.maximum.reduceat(end, first) if len(first) else end
    has_stay = np.maximum.reduceat(stay, first) if len(first) else stay
    normal = np.minimum.reduceat((specs["role"] == "normal").to_numpy(), first) if len(first) else stay
    start_of_year, next_year = world.year_start(year), world.year_start(year + 1)
    margin = np.where(has_stay, YEAR_MARGIN, 0)
    dies = death[m]
    hi = np.minimum(next_year - 1 - margin, np.where(dies >= 0, dies - 1, next_year))
    length = next_year - start_of_year
    preferred = np.where(has_stay, seasonal_days(start_of_year, length, np.array(F.INPATIENT_SEASON), rng),
                         seasonal_days(start_of_year, length, np.array(F.OUTPATIENT_SEASON), rng))
    lo = start_of_year + margin
    return {"member": m, "year": year - world.years[0], "key": m * 10_000 + year, "span": span,
            "has_stay": has_stay, "normal": normal,
            "fixed": specs["fixed_start"].fill_null(-1).to_numpy()[first].astype(np.int64),
            "size": np.diff(np.r_[first, len(block)]), "lo": lo, "hi": hi,
            "preferred": np.clip(preferred, lo, np.maximum(lo, hi - span + 1)),
            "tiebreak": rng.integers(0, 1 << 20, len(first))}


def _layout(b: dict[str, np.ndarray]) -> np.ndarray:
    """Start of each block: as near its preferred day as the member's other blocks allow.

    With ``before`` the length of the member's earlier blocks of the year, the earliest start
    is ``before + running max(preferred - before)`` and the latest that leaves room for the
    later blocks is ``before + reverse running min(hi - span + 1 - before)``.
    """
    order = order_by((b["member"], 24), (b["year"], 4), (b["preferred"] - b["lo"].min(initial=0), 14), (b["tiebreak"], 20))
    key, has_stay, span = b["key"][order], b["has_stay"][order], b["span"][order]
    first = np.r_[True, key[1:] != key[:-1]] if len(key) else np.zeros(0, dtype=bool)
    group = np.cumsum(first) - 1
    # the gap after a stay if any later block of the year has one, not only the next: a visit between
    # two stays must not bring them closer than the gap
    stays = has_stay.astype(np.int64)
    so_far = _segment_cumsum(stays, first)
    starts = np.flatnonzero(first)
    later_stay = (np.add.reduceat(stays, starts)[group] if len(starts) else so_far) > so_far
    length = span + np.where(has_stay & later_stay, GAP_AFTER_STAY, 0)
    before = _segment_cumsum(length, first) - length
    forward = before + _segment_scan(b["preferred"][order] - before, group, np.maximum)
    latest = b["hi"][order] - span + 1 - before
    backward = before + _segment_scan(latest[::-1], group[::-1], np.minimum)[::-1]
    start = np.empty(len(order), dtype=np.int64)
    start[order] = np.minimum(forward, backward)
    return start


def _segment_cumsum(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    total = np.cumsum(values)
    starts = np.flatnonzero(first)
    offset = np.repeat(total[starts] - values[starts], np.diff(np.r_[starts, len(values)]))
    return total - offset


def _segment_scan(values: np.ndarray, group: np.ndarray, ufunc: np.ufunc) -> np.ndarray:
    """Running max or min that restarts at each group (groups are contiguous and ordered).

    Shifting each group by ``group * SHIFT`` (larger than any value's range) makes the running
    value of the group before lose to every value of the next one: groups ascend for a
    running max, and descend (a reversed array) for a running min.
    """
    shift = (group.astype(np.int64) - group.min(initial=0)) * SHIFT
    return ufunc.accumulate(values + shift) - shift if len(values) else values


def dates(world, specs: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Admission, discharge and settlement days, and claim ids numbered in settlement order per county.

    A claim is settled 0-5 days after discharge (or the visit), within the same year; the
    second copy of a duplicate 0-20 days after its original, so it always comes second.
    """
    year = specs["year"].to_numpy()
    last_day = world.year_start(year + 1) - 1
    adm = specs["start"].to_numpy() + specs["rel"].to_numpy()
    stay = specs["kind"].to_numpy() == 1
    end = np.where(stay, adm + specs["los"].to_numpy(), adm)
    settle = np.minimum(end + rng.integers(F.SETTLEMENT_DELAY[0], F.SETTLEMENT_DELAY[1] + 1, len(adm)), last_day)
    claims = specs.with_columns(adm=pl.Series(adm, dtype=pl.Int32),
                                dis=pl.when(pl.Series(stay)).then(pl.Series(end, dtype=pl.Int32)),
                                settle=pl.Series(settle, dtype=pl.Int32), _last=pl.Series(last_day, dtype=pl.Int32),
                                _delay=pl.Series(rng.integers(0, 21, len(adm)), dtype=pl.Int32))
    originals = claims.select(pl.col("spec").alias("copy_of"), pl.col("settle").alias("_orig"))
    claims = claims.join(originals, on="copy_of", how="left", maintain_order="left").with_columns(
        settle=pl.when(pl.col("_orig").is_not_null())
        .then(pl.min_horizontal(pl.col("_orig") + pl.col("_delay"), pl.col("_last"))).otherwise(pl.col("settle")))
    settle = claims["settle"].to_numpy()
    order = order_by((claims["county"].to_numpy(), 10), (settle - settle.min(initial=0), 16),
                     (claims["copy_of"].is_not_null().to_numpy(), 1), (rng.integers(0, 1 << 24, claims.height), 24))
    county = claims["county"].to_numpy()[order]
    first = np.r_[True, county[1:] != county[:-1]] if len(county) else np.zeros(0, dtype=bool)
    starts = np.flatnonzero(first)
    seq = np.empty(len(order), dtype=np.int64)
    seq[order] = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)])) + 1
    codes = pl.Series(world.county_codes).gather(claims["county"])
    width = max(6, len(str(int(seq.max(initial=0)))))  # ids of up to 12 characters stay inline in memory
    return claims.with_columns(seq=pl.Series(seq), claim_id=codes + pl.Series(seq).cast(pl.String).str.zfill(width)) \
        .drop("_last", "_delay", "_orig")
