"""What the fund pays: the county's scheme of the year, applied exactly (docs/domain.md §1).

For each claim, in fen and with ratios in 1/10000 so that nothing is left to float rounding::

    raw  = round_half_up(max(0, eligible - deductible) * ratio)       # ratio of kind and level
    raw  = min(raw, per_visit_cap)                                     # outpatient, when the level has one
    raw  = min(raw, outpatient_annual_cap - outpatient paid so far)    # outpatient, when the scheme has one
    paid = min(raw, annual_cap - paid so far by the member that year)  # in settlement order

Outpatient care is paid at every level the scheme has outpatient terms for (village and
township everywhere, the county hospital where a county pays it). A stay without referral at a
level whose terms cut the ratio (by default those out of the county) has its ratio reduced by
that level's ``unreferred_ratio_cut`` when the scheme requires referral. "Settlement order" is
settlement date, then claim_id; with ``R`` the running sum of ``raw`` over the member's year,
``paid = min(cap, R) - min(cap, R - raw)``, one cumulative sum for all members at once.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from . import figures as F
from .draw import order_by
from .fmt import money
from .world import World


def scheme_terms(world: World, claims: pl.DataFrame) -> dict[str, np.ndarray]:
    c = claims["county"].to_numpy()
    yi = world.year_index(claims["year"].to_numpy())
    kind = claims["kind"].to_numpy().astype(np.int64)
    level = claims["level"].to_numpy().astype(np.int64)
    cut = ((kind == 1) & (claims["referral"].to_numpy() == 0) & world.referral_required[c, yi]
           & (claims["pay"] != "no_cut").to_numpy())
    return {"deductible": world.deductible[c, yi, kind, level],
            "ratio": np.maximum(0, world.ratio_bp[c, yi, kind, level] - cut * world.cut_bp[c, yi, level]),
            "visit_cap": np.where(kind == 0, world.visit_cap[c, yi, kind, level], -1),
            "outpatient_cap": np.where(kind == 0, world.outpatient_cap[c, yi], -1),
            "annual_cap": world.annual_cap[c, yi]}


def raw_compensation(eligible: np.ndarray, terms: dict[str, np.ndarray]) -> np.ndarray:
    raw = (np.maximum(0, eligible - terms["deductible"]) * terms["ratio"] + 5000) // 10000
    return np.where(terms["visit_cap"] >= 0, np.minimum(raw, terms["visit_cap"]), raw)


def compensate(world: World, claims: pl.DataFrame) -> pl.DataFrame:
    """Add ``raw`` (the claim alone), ``comp`` (after the annual cap) and ``year_raw`` in fen.

    "Settlement order" is settlement day then claim number, which is claim_id order. A
    member's year with a ``no_cap`` claim (a cap breach) is paid without counting.
    """
    terms = scheme_terms(world, claims)
    raw = raw_compensation(claims["eligible"].to_numpy(), terms)
    m, year = claims["m"].to_numpy(), claims["year"].to_numpy()
    outpatient = terms["outpatient_cap"] >= 0  # the outpatient claims of a scheme with an outpatient cap
    if outpatient.any():  # capped first among the member's outpatient claims of the year
        rows = np.flatnonzero(outpatient)
        capped, _, _ = _running_cap(world, m[rows], year[rows], claims["seq"].to_numpy()[rows], raw[rows],
                                    terms["outpatient_cap"][rows])
        raw = raw.copy()
        raw[rows] = capped
    paid, order, (starts, sizes, running) = _running_cap(world, m, year, claims["seq"].to_numpy(), raw,
                                                         terms["annual_cap"])
    ordered = raw[order]
    uncapped = np.repeat(np.maximum.reduceat((claims["pay"] == "no_cap").to_numpy()[order], starts), sizes) \
        if len(starts) else np.zeros(0, dtype=bool)
    comp, year_raw = np.empty(len(raw), dtype=np.int64), np.empty(len(raw), dtype=np.int64)
    comp[order] = np.where(uncapped, ordered, paid[order])
    year_raw[order] = np.repeat(running[np.r_[starts[1:] - 1, len(order) - 1]] if len(starts) else running, sizes)
    return claims.with_columns(raw=pl.Series(raw), comp=pl.Series(comp), year_raw=pl.Series(year_raw),
                               annual_cap=pl.Series(terms["annual_cap"]))


def _running_cap(world: World, m: np.ndarray, year: np.ndarray, seq: np.ndarray, raw: np.ndarray,
                 cap: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``raw`` paid within ``cap`` a member's year, in settlement order (by row); the order, and
    each member-year's start and size in it with the running sum of ``raw``."""
    order = order_by((m, 24), (year - world.years[0], 4), (seq, 28))
    key = m[order] * 10_000 + year[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if len(key) else np.zeros(0, dtype=np.int64)
    sizes = np.diff(np.r_[starts, len(key)])
    ordered = raw[order]
    running = np.cumsum(ordered)
    running -= np.repeat(running[starts] - ordered[starts], sizes)
    capped = cap[order]
    paid = np.empty(len(raw), dtype=np.int64)
    paid[order] = np.minimum(capped, running) - np.minimum(capped, running - ordered)
    return paid, order, (starts, sizes, running)


def overpay(world: World, claims: pl.DataFrame, n: int, rng: np.random.Generator) -> pl.DataFrame:
    """Pay ``n`` stays more than the scheme gives: the deductible skipped, or a lower level's ratio.

    Only members far from their cap are chosen, so that the cap never hides the excess.
    """
    if n <= 0:
        return claims
    terms = scheme_terms(world, claims)
    ok = ((claims["role"] == "normal") & (claims["kind"] == 1) & (claims["pay"] == "formula")).to_numpy() \
        & (claims["eligible"].to_numpy() > terms["deductible"] + 5000) \
        & (claims["year_raw"].to_numpy() * 3 < terms["annual_cap"])
    rows = np.sort(rng.choice(np.flatnonzero(ok), size=min(n, int(ok.sum())), replace=False))
    eligible, level = claims["eligible"].to_numpy()[rows], claims["level"].to_numpy()[rows].astype(np.int64)
    c, yi = claims["county"].to_numpy()[rows], world.year_index(claims["year"].to_numpy()[rows])
    no_deductible = (eligible * terms["ratio"][rows] + 5000) // 10000
    lower = world.ratio_bp[c, yi, 1, np.maximum(level - 1, F.TOWNSHIP)]
    lower_ratio = (np.maximum(0, eligible - terms["deductible"][rows]) * lower + 5000) // 10000
    due = claims["raw"].to_numpy()[rows]
    use_lower = (level > F.TOWNSHIP) & (lower_ratio > due + 100) & (rng.random(len(rows)) < 0.5)
    paid = np.where(use_lower, lower_ratio, no_deductible)
    how = pl.Series(np.where(use_lower, "paid at the ratio of a lower level", "paid without the deductible"))
    detail = pl.select(how + ": " + money(pl.lit(pl.Series(paid))) + " paid, the scheme gives "
                       + money(pl.lit(pl.Series(due)))).to_series()
    columns = {name: claims[name].clone() for name in ("comp", "family", "detail", "role")}
    columns["comp"].scatter(rows, paid)
    columns["family"].scatter(rows, "overpayment")
    columns["detail"].scatter(rows, detail)
    columns["role"].scatter(rows, "overpayment")
    return claims.with_columns(**columns)
