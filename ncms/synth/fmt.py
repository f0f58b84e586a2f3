"""Values as the exchange format writes them: money with exactly two decimals, ISO dates."""
from __future__ import annotations

import polars as pl


def money(fen: pl.Expr) -> pl.Expr:
    """Fen (integer) as yuan with exactly two decimals: 1234.50 (a decimal of scale 2 prints so)."""
    return (fen.cast(pl.Decimal(20, 2)) / 100).cast(pl.String)


def quantity(milli: pl.Expr) -> pl.Expr:
    """Thousandths as a number with up to three decimals and no trailing zeros: 12, 7.5, 0.125."""
    fraction = (milli % 1000).cast(pl.String).str.zfill(3).str.strip_chars_end("0")
    whole = (milli // 1000).cast(pl.String)
    return pl.when(milli % 1000 == 0).then(whole).otherwise(whole + "." + fraction)


def date(days: pl.Expr) -> pl.Expr:
    """Internal day numbers (days since 1970-01-01) as YYYY-MM-DD."""
    return days.cast(pl.Int32).cast(pl.Date).cast(pl.String)
