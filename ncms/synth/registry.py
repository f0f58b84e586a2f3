"""Choosing the members that injected cases happen to, without reusing one.

Each injected case needs a member who fits it (enrolled or not that year, alive all year or
dead before mid-November, old enough for the diagnosis). Using every member at most once
keeps two injected patterns from landing on one person and creating a third by accident.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from .claims import complete
from .population import People
from .world import World, day


class Registry:
    def __init__(self, world: World, people: People) -> None:
        members = people.members
        self.world, self.people = world, people
        self.county = members["county"].to_numpy()
        self.birth = members["birth"].to_numpy()
        self.death = members["death"].fill_null(-1).to_numpy()
        self.used = members["no_claims"].to_numpy().copy()
        self.enrolled, self.ages = {}, {}
        for year in world.years:
            self.ages[year] = people.ages(np.arange(members.height), year)
            mask = np.zeros(members.height, dtype=bool)
            mask[people.enrolments.filter(pl.col("year") == year)["m"].to_numpy()] = True
            self.enrolled[year] = mask

    def pick(self, n: int, rng: np.random.Generator, *, min_age: int = 0, max_age: int = 120,
             enrolled: bool = True, died: bool = False, counties: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``n`` members and a year each, spread over the years; fewer if too few fit."""
        years = np.asarray(self.world.years)
        per_year = np.bincount(rng.integers(0, len(years), n), minlength=len(years))
        chosen_m, chosen_y = [], []
        for year, k in zip(years.tolist(), per_year.tolist()):
            if k == 0:
                continue
            start, end = self.ages[year]
            ok = ~self.used & (self.enrolled[year] == enrolled) & (start >= min_age) & (end <= max_age)
            if died:
                ok &= (self.death >= day(year)) & (self.death < day(year, 11, 15))
            else:
                ok &= (self.death < 0) | (self.death >= day(year + 1))
            if counties is not None:
                ok &= np.isin(self.county, counties)
            pool = np.flatnonzero(ok)
            take = rng.choice(pool, size=min(k, len(pool)), replace=False) if len(pool) else pool
            self.used[take] = True
            chosen_m.append(take)
            chosen_y.append(np.full(len(take), year))
        if not chosen_m:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return np.concatenate(chosen_m).astype(np.int64), np.concatenate(chosen_y).astype(np.int64)

    def complete(self, base: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
        return complete(self.world, self.people, base, rng)

    def base(self, m: np.ndarray, year: np.ndarray, kind: np.ndarray | int, **columns: object) -> pl.DataFrame:
        """The start of a spec frame for these members: unit number, part 0, and any preset columns."""
        n = len(m)
        frame = pl.DataFrame({
            "m": m.astype(np.int64), "county": self.county[m].astype(np.int32), "year": np.asarray(year, dtype=np.int32),
            "kind": np.broadcast_to(np.asarray(kind, dtype=np.int8), (n,)).copy(),
            "unit": np.arange(n, dtype=np.int64), "part": np.zeros(n, dtype=np.int32),
        })
        dtypes = {"dx": pl.String, "level": pl.Int8, "inst": pl.Int32, "los": pl.Int32, "rel": pl.Int32,
                  "referral": pl.Int8, "target": pl.Int64, "lines": pl.Int32, "uncovered": pl.Boolean,
                  "mode": pl.String, "role": pl.String, "pay": pl.String, "family": pl.String,
                  "detail": pl.String, "fixed_start": pl.Int32, "drug_share": pl.Float64}
        for name, value in columns.items():
            if isinstance(value, str) or value is None:
                series = pl.repeat(value, n, dtype=dtypes[name], eager=True)
            else:
                series = pl.Series(np.broadcast_to(np.asarray(value), (n,)).copy()).cast(dtypes[name])
            frame = frame.with_columns(series.alias(name))
        return frame
