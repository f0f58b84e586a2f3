"""Small vectorised drawing tools shared by the generators."""
from __future__ import annotations

import numpy as np
import polars as pl


def categorical(table: np.ndarray, row: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each element, a column index of ``table[row]`` drawn with that row's weights.

    All rows are searched at once: each row's cumulative weights are scaled to (0, 1] and
    shifted by the row number, so one ``searchsorted`` over the flattened table serves all.
    """
    table = np.asarray(table, dtype=np.float64)
    totals = table.sum(axis=1, keepdims=True)
    if (totals[np.unique(row)] <= 0).any():
        raise ValueError("a row of weights has nothing to draw from")
    cum = np.cumsum(table, axis=1) / np.where(totals > 0, totals, 1)
    cum[:, -1] = 1.0
    flat = (cum + np.arange(len(table))[:, None]).ravel()
    u = rng.random(len(row))
    pos = np.searchsorted(flat, row + u, side="right")
    return np.minimum(pos - row * table.shape[1], table.shape[1] - 1)


def by_band(values: np.ndarray, bands: dict[int, float]) -> np.ndarray:
    """Look a value up in a table of band starts (``{0: w, 5: w2, ...}``)."""
    starts = np.array(sorted(bands))
    weights = np.array([bands[s] for s in starts])
    return weights[np.clip(np.searchsorted(starts, values, side="right") - 1, 0, len(starts) - 1)]


def pick_from(lists: list[np.ndarray], which: np.ndarray, u: np.ndarray) -> np.ndarray:
    """For each row, the element at fraction ``u`` of list ``which[row]``: a uniform pick, all rows at once."""
    lengths = np.array([len(x) for x in lists])
    flat = np.concatenate(lists)
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    return flat[starts[which] + (u * lengths[which]).astype(np.int64)]


def allocate(total: int, weights: np.ndarray) -> np.ndarray:
    """Split ``total`` in proportion to ``weights`` exactly (largest remainder)."""
    weights = np.asarray(weights, dtype=np.float64)
    if total <= 0 or weights.sum() <= 0:
        return np.zeros(len(weights), dtype=np.int64)
    exact = total * weights / weights.sum()
    out = np.floor(exact).astype(np.int64)
    rest = total - out.sum()
    out[np.argsort(-(exact - out), kind="stable")[:rest]] += 1
    return out


def fill(frame: pl.DataFrame, name: str, values: np.ndarray | pl.Series, dtype: pl.DataType) -> pl.DataFrame:
    """Keep the values the caller set in ``name`` and draw the rest."""
    drawn = pl.Series(name, values).cast(dtype)
    if name in frame.columns:
        drawn = frame[name].cast(dtype).fill_null(drawn)
    return frame.with_columns(drawn.alias(name))


def seasonal_days(year_start: np.ndarray, year_days: np.ndarray, season: np.ndarray,
                  rng: np.random.Generator) -> np.ndarray:
    """A day of the year drawn month by month with the season's weights (index 0 = January)."""
    month = categorical(np.asarray(season)[None, :], np.zeros(len(year_start), dtype=np.int64), rng)
    month_len = year_days / 12.0
    return year_start + np.floor((month + rng.random(len(month))) * month_len).astype(np.int64)


def order_by(*keys: tuple[np.ndarray, int]) -> np.ndarray:
    """Stable sort order by several non-negative integer keys, each given with its bit width.

    Packing the keys into one int64 sorts a million rows in one pass, where ``np.lexsort``
    takes one pass per key.
    """
    packed = np.zeros(len(keys[0][0]), dtype=np.int64)
    bits = 0
    for values, width in keys:
        values = np.asarray(values, dtype=np.int64)
        if len(values) and (values.min() < 0 or values.max() >= 1 << width):
            raise ValueError(f"a sort key does not fit in {width} bits")
        packed = (packed << width) | values
        bits += width
    if bits > 63:
        raise ValueError("sort keys wider than 63 bits")
    return np.argsort(packed, kind="stable")
