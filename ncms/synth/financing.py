"""Money raised for each county's pooled fund, by month and source (筹资).

Each source's yearly amount is the county's enrolled members of the year times the
per-capita figure of that source (the individual part is exactly the sum of the enrolments'
contributions), received in the months ``figures.FINANCING_MONTHS`` gives: contributions and
local money at the start of the year, the central and provincial subsidies in tranches.
"""
from __future__ import annotations

import polars as pl

from . import figures as F
from .population import People, per_capita


def financing(people: People) -> pl.DataFrame:
    enrolled = (people.enrolments.join(people.members.select("m", "county"), on="m", how="left")
                .group_by("county", "year").agg(pl.len().alias("members"), pl.col("contribution").sum())
                .sort("county", "year"))
    rows = []
    for county, year, members, contributions in enrolled.iter_rows():
        for i, source in enumerate(F.FUNDING_SOURCES):
            total = int(contributions) if i == 0 else members * per_capita(year)[i] * 100
            months = sorted(F.FINANCING_MONTHS[source].items())
            paid = 0
            for k, (month, share) in enumerate(months):
                amount = total - paid if k == len(months) - 1 else int(total * share)
                paid += amount
                rows.append((county, year, month, source, amount))
    return pl.DataFrame(rows, orient="row", schema={"county": pl.Int32, "year": pl.Int32, "month": pl.Int32,
                                                    "source": pl.String, "amount": pl.Int64}).sort(
        "county", "year", "month", "source")
