"""Misuse in what was billed: restricted items and diagnoses, prices above the ceiling, extra bed days.

Each case changes one line (or the diagnosis) of an otherwise clean claim chosen at random,
every claim at most once: the last line is replaced by an item the patient's sex or age
excludes, or billed above the catalogue price; or the bed days exceed the length of stay.
The amounts stay quantity × unit price and the claim's totals are recomputed from its lines
afterwards, so each case breaks its own rule and no other.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from .fmt import money, quantity
from .population import People
from .items import Catalogue
from .world import World


class Picker:
    """Draws distinct clean claims that satisfy a condition."""

    def __init__(self, claims: pl.DataFrame, rng: np.random.Generator) -> None:
        rows = np.flatnonzero(((claims["role"] == "normal") & claims["copy_of"].is_null()).to_numpy())
        self.rows = rows[rng.permutation(len(rows))]
        self.free = np.ones(len(rows), dtype=bool)

    def take(self, mask: np.ndarray, k: int) -> np.ndarray:
        ok = np.flatnonzero(self.free & mask[self.rows])[:max(k, 0)]
        self.free[ok] = False
        return np.sort(self.rows[ok])


class Lines:
    """The item columns as arrays, with where each claim's lines start (they are contiguous)."""

    def __init__(self, claims: pl.DataFrame, items: pl.DataFrame) -> None:
        spec = items["spec"].to_numpy()
        self.first = np.zeros(int(spec.max(initial=0)) + 1, dtype=np.int64)
        starts = np.flatnonzero(items["line_no"].to_numpy() == 1)
        self.first[spec[starts]] = starts
        self.count = np.bincount(spec, minlength=len(self.first))
        self.spec = claims["spec"].to_numpy()
        self.columns = {c: items[c].to_numpy().copy() for c in ("item", "qty", "unit", "amount")}

    def last(self, rows: np.ndarray) -> np.ndarray:
        return self.first[self.spec[rows]] + self.count[self.spec[rows]] - 1

    def line(self, rows: np.ndarray, line_no: int) -> np.ndarray:
        return self.first[self.spec[rows]] + line_no - 1

    def set(self, at: np.ndarray, **values: np.ndarray) -> None:
        for name, value in values.items():
            self.columns[name][at] = value
        c = self.columns
        c["amount"][at] = (c["qty"][at] * c["unit"][at] + 500) // 1000


def tamper(world: World, people: People, claims: pl.DataFrame, items: pl.DataFrame,
           plan: dict[str, int], rng: np.random.Generator) -> tuple[pl.DataFrame, pl.DataFrame]:
    cat = Catalogue(world)
    m = claims["m"].to_numpy()
    sex = people.members["sex"].to_numpy()[m]
    start, end = people.ages(m, claims["year"].to_numpy())
    kind = claims["kind"].to_numpy()
    pick, lines = Picker(claims, rng), Lines(claims, items)
    labels: list[tuple[np.ndarray, str, pl.Series]] = []
    n_sex = plan.get("sex_restricted", 0)
    n_items = (n_sex + 1) // 2
    for patient, k in ((1, (n_items + 1) // 2), (0, n_items // 2)):
        codes = _restricted(world, sex=1 - patient)
        rows = pick.take(sex == patient, k if codes else 0)
        chosen = _replace(cat, lines, rows, codes, rng)
        labels.append((rows, "sex_restricted", "item " + cat.code.gather(chosen) + " (" + cat.name.gather(chosen)
                       + ") billed for a " + ("male" if patient else "female") + " patient"))
    n_dx = n_sex - n_items
    dx = claims["dx"].clone()
    rules = world.diagnosis_rules.filter(pl.col("min_age").is_null() & pl.col("max_age").is_null())
    for patient, k in ((1, (n_dx + 1) // 2), (0, n_dx // 2)):  # a prostate condition for a woman, …
        codes = rules.filter(pl.col("allowed_sex") == 1 - patient)["code"]
        rows = pick.take((sex == patient) & (kind == 0), k if codes.len() else 0)
        chosen = codes.gather(rng.integers(0, max(codes.len(), 1), len(rows))) if len(rows) \
            else pl.Series([], dtype=pl.String)
        dx.scatter(rows, chosen)
        labels.append((rows, "sex_restricted",
                       "diagnosis " + chosen + " for a " + ("male" if patient else "female") + " patient"))
    n_age = plan.get("age_restricted", 0)
    adult_only = _restricted(world, min_age=True)
    child_only = [c for c in _restricted(world, max_age=True) if cat.category[cat.index[c]] != "bed"]
    kids = pick.take(end <= 16, (n_age + 1) // 2 if adult_only else 0)
    adults = pick.take(start >= 20, n_age - len(kids) if child_only else 0)
    for rows, codes in ((kids, adult_only), (adults, child_only)):
        chosen = _replace(cat, lines, rows, codes, rng)
        labels.append((rows, "age_restricted", "item " + cat.code.gather(chosen) + " (" + cat.name.gather(chosen)
                       + ") billed for a patient aged " + pl.Series(end[rows]).cast(pl.String)))
    rows = pick.take(np.ones(claims.height, dtype=bool), plan.get("over_standard_price", 0))
    labels.append((rows, "over_standard_price", _overprice(cat, lines, rows, rng)))
    rows = pick.take(kind == 1, plan.get("excess_quantity", 0))
    labels.append((rows, "excess_quantity", _extra_beds(claims, lines, rows, rng)))
    items = items.with_columns(**{name: pl.Series(values) for name, values in lines.columns.items()})
    return _label(claims.with_columns(dx=dx), labels), items


def _restricted(world: World, *, sex: int | None = None, min_age: bool = False, max_age: bool = False) -> list[str]:
    """Items restricted to one sex only, or by age only (for any sex)."""
    r = world.item_rules
    if sex is not None:
        r = r.filter((pl.col("allowed_sex") == sex) & pl.col("min_age").is_null() & pl.col("max_age").is_null())
    else:
        r = r.filter(pl.col("allowed_sex").is_null()
                     & (pl.col("min_age").is_not_null() if min_age else pl.col("max_age").is_not_null()))
    return r["code"].to_list()


def _replace(cat: Catalogue, lines: Lines, rows: np.ndarray, codes: list[str], rng: np.random.Generator) -> np.ndarray:
    """The claims' last line becomes one unit of one of ``codes``, at its catalogue price."""
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    chosen = cat.rows(codes)[rng.integers(0, len(codes), len(rows))]
    lines.set(lines.last(rows), item=chosen, qty=np.full(len(rows), 1000), unit=cat.price[chosen])
    return chosen


def _overprice(cat: Catalogue, lines: Lines, rows: np.ndarray, rng: np.random.Generator) -> pl.Series:
    at = lines.last(rows)
    item = lines.columns["item"][at]
    ceiling = cat.price[item]
    lines.set(at, unit=np.ceil(ceiling * rng.uniform(1.15, 1.8, len(rows))).astype(np.int64))
    return pl.select("item " + cat.code.gather(item) + " billed at " + money(pl.lit(pl.Series(lines.columns["unit"][at])))
                     + " a unit, above the ceiling " + money(pl.lit(pl.Series(ceiling)))).to_series()


def _extra_beds(claims: pl.DataFrame, lines: Lines, rows: np.ndarray, rng: np.random.Generator) -> pl.Series:
    """The bed line (always line 1 of a stay) billed for 2-6 days more than the stay lasted."""
    los = claims["los"].to_numpy()[rows].astype(np.int64)
    qty = (los + rng.integers(2, 7, len(rows))) * 1000
    lines.set(lines.line(rows, 1), qty=qty)
    return pl.select(quantity(pl.lit(pl.Series(qty, dtype=pl.Int64))) + " bed days billed for a stay of "
                     + pl.lit(pl.Series(los)).cast(pl.String) + " days").to_series()


def _label(claims: pl.DataFrame, labels: list[tuple[np.ndarray, str, pl.Series]]) -> pl.DataFrame:
    rows = np.concatenate([r for r, _, _ in labels]) if labels else np.zeros(0, dtype=np.int64)
    family = pl.concat([pl.repeat(f, len(r), dtype=pl.String, eager=True) for r, f, _ in labels])
    detail = pl.concat([d.cast(pl.String) for _, _, d in labels])
    columns = {}
    for name, values in (("family", family), ("detail", detail), ("role", family)):
        column = claims[name].clone()
        column.scatter(rows, values)
        columns[name] = column
    return claims.with_columns(**columns)
