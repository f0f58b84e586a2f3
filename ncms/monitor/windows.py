"""The windows of care an institution is judged over: a month, a quarter, the year to date.

A township health centre has 10-40 stays a year: a month of it says nothing about its stays.
``features.windows`` sums every institution's months per window; ``pick`` chooses, for each
institution and year, the shortest window thick enough to judge it on; the helpers name a
window as a finding's subject and period give it.
"""
from __future__ import annotations

import calendar
from datetime import date
from typing import Any

import polars as pl

# window: months it spans
WINDOWS = {"month": 1, "quarter": 3, "year": 12}


def pick(frame: pl.DataFrame, settings: Any) -> pl.DataFrame:
    """The rows of ``frame`` (every window of ``features.windows``, with ``peers``) each
    institution is judged on, one window a year: the shortest whose median period has
    ``min_cases`` claims, ``min_peers`` peers and, if it admits at all that year, ``min_stays``
    stays; else the longest (the year to date)."""
    per = (frame.group_by("institution_id", "year", "time_window")
           .agg(pl.col("cases", "stays", "peers").fill_null(0).median(), pl.col("stays").sum().alias("admitted"))
           .with_columns(thick=(pl.col("cases") >= settings.min_cases) & (pl.col("peers") >= settings.min_peers)
                         & ((pl.col("stays") >= settings.min_stays) | (pl.col("admitted") == 0))))
    order = {name: i for i, name in enumerate(WINDOWS)}
    per = per.with_columns(rank=pl.col("time_window").replace_strict(order, return_dtype=pl.Int64))
    chosen = per.group_by("institution_id", "year").agg(  # none thick enough: the longest
        pl.col("rank").filter(pl.col("thick")).min().fill_null(pl.col("rank").max()))
    chosen = chosen.select("institution_id", "year", pl.col("rank").replace_strict(
        {i: name for name, i in order.items()}, return_dtype=pl.String).alias("time_window"))
    return frame.join(chosen, on=["institution_id", "year", "time_window"], how="semi")


def month_days(year: int, month: int) -> tuple[date, date]:
    return date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])


def window_days(row: dict[str, Any]) -> tuple[date, date]:
    """The first and last day of a row's window."""
    last = row["month"] + row["months"] - 1
    return month_days(row["year"], row["month"])[0], month_days(row["year"], last)[1]


def window_name(row: dict[str, Any]) -> str:
    """A window as a finding's subject names it: 2011-03, 2011-Q1, 2011 (the year to date)."""
    if row["time_window"] == "year":
        return f"{row['year']}"
    if row["time_window"] == "quarter":
        return f"{row['year']}-Q{(row['month'] - 1) // 3 + 1}"
    return f"{row['year']}-{row['month']:02d}"
