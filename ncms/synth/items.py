"""Cost detail (费用明细): the lines of each claim, priced from the provincial catalogue.

A stay has its bed days (quantity = length of stay), the items its diagnosis calls for
(an appendectomy for K35.8, a delivery for O80, phototherapy hours for neonatal jaundice),
then lines drawn from the unrestricted generic items; a visit has a consultation, the
diagnosis's drug and one or two lines. The drug lines take the claim's drug share of its
target cost, the others the rest; the last line is a drug whose quantity and (lower than
ceiling) unit price make the claim add up to its target within a few fen. Prices are the
catalogue ceiling, or up to 10 % below it on a fifth of the lines; no clean line is above.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from . import figures as F
from .draw import categorical
from .world import World

CATEGORIES = ("drug", "exam", "lab", "treatment", "material")
DRUG, EXAM, LAB, TREATMENT, MATERIAL = range(5)


class Catalogue:
    """Catalogue columns as arrays, items addressed by their row number."""

    def __init__(self, world: World) -> None:
        cat = world.catalogue
        self.code, self.name, self.category = cat["code"], cat["name"], cat["category"]
        kinds = {c: i for i, c in enumerate(CATEGORIES)}
        self.kind = np.array([kinds.get(c, len(CATEGORIES)) for c in self.category.to_list()])  # other, bed: past the end
        self.price = cat["price"].to_numpy()
        self.covered = cat["covered"].to_numpy()
        self.index = {c: i for i, c in enumerate(self.code.to_list())}

    def rows(self, codes) -> np.ndarray:
        missing = [c for c in codes if c not in self.index]
        if missing:
            raise ValueError(f"catalogue.csv lacks item(s) {', '.join(missing)} the synthetic province bills")
        return np.array([self.index[c] for c in codes], dtype=np.int64)


def generate_items(world: World, claims: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Lines of every claim (by ``spec``); copies of a claim get the lines of their original."""
    cat = Catalogue(world)
    originals = claims.filter(pl.col("copy_of").is_null())
    fixed = _fixed_lines(cat, originals, rng)
    lines = _flexible_lines(cat, originals, fixed, rng)
    items = _balance(cat, originals, lines)
    spec = originals["spec"].to_numpy()
    items = pl.DataFrame({
        "spec": spec[items["ci"]], "line_no": items["line_no"], "item": items["item"],
        "qty": items["qty"], "unit": items["unit"], "amount": items["amount"]})
    copies = claims.filter(pl.col("copy_of").is_not_null()).select("spec", pl.col("copy_of"))
    copied = items.join(copies, left_on="spec", right_on="copy_of", how="inner", suffix="_copy",
                        maintain_order="left").with_columns(spec=pl.col("spec_copy")).drop("spec_copy")
    return pl.concat([items, copied.select(items.columns)])


def describe(world: World, items: pl.DataFrame) -> pl.DataFrame:
    """Code, name, category and coverage of each line, from its catalogue row."""
    cat = Catalogue(world)
    row = items["item"]
    return items.with_columns(code=cat.code.gather(row), name=cat.name.gather(row),
                              category=cat.category.gather(row), covered=pl.Series(cat.covered[row.to_numpy()]))


RULES = ("one", "few", "los", "hours")


def _diagnosis_items(cat: Catalogue) -> pl.DataFrame:
    rows = [(kind, dx, int(cat.rows([code])[0]), RULES.index(rule), slot)
            for kind, table in ((1, F.DIAGNOSIS_ITEMS), (0, F.OUTPATIENT_DIAGNOSIS_ITEMS))
            for dx, items in table.items() for slot, (code, rule) in enumerate(items)]
    return pl.DataFrame(rows, orient="row", schema={"kind": pl.Int8, "dx": pl.String, "item": pl.Int64,
                                                    "rule": pl.Int8, "slot": pl.Int64})


def _fixed_lines(cat: Catalogue, claims: pl.DataFrame, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Bed days or consultation first, then the diagnosis's own items, in their order."""
    kind, los = claims["kind"].to_numpy(), claims["los"].to_numpy().astype(np.int64)
    neonatal = claims["dx"].is_in(list(F.NEONATAL_DIAGNOSES)).to_numpy()
    stay = kind == 1
    first = stay | ((kind == 0) & (claims["lines"].to_numpy() >= 2))
    head = np.flatnonzero(first)
    intensive = claims["dx"].is_in(list(F.INTENSIVE_CARE_DIAGNOSES)).to_numpy() & (claims["level"].to_numpy() >= F.MUNICIPAL)
    bed = np.select([neonatal, intensive], [cat.rows([F.NEONATAL_BED_ITEM])[0], cat.rows([F.INTENSIVE_BED_ITEM])[0]],
                    cat.rows([F.BED_ITEM])[0])
    item = np.where(stay[head], bed[head], cat.rows([F.CONSULTATION_ITEM])[0])
    own = (claims.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("ci"), "kind", "dx",
                         pl.col("mode").is_in(["normal", "covered"]).alias("billed"))
           .filter("billed").join(_diagnosis_items(cat), on=["kind", "dx"], how="inner", maintain_order="left_right"))
    ci = own["ci"].to_numpy()
    rule = own["rule"].to_numpy()
    hours = np.maximum(np.round(los[ci] * rng.uniform(4, 12, len(ci)) * 2) / 2, 0.5)
    qty = np.choose(rule, [np.ones(len(ci)), rng.integers(1, 4, len(ci)), los[ci], hours]) if len(ci) else np.zeros(0)
    return {
        "ci": np.r_[head, ci],
        "rank": np.r_[np.zeros(len(head), dtype=np.int64), first[ci] + own["slot"].to_numpy()],
        "item": np.r_[item, own["item"].to_numpy()],
        "qty": np.round(np.r_[np.where(stay[head], los[head], 1), qty] * 1000).astype(np.int64),
    }


def _pools(cat: Catalogue) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flattened item pools per (kind, category), with start and size of each."""
    pools = []
    for table in (F.OUTPATIENT_ITEMS, F.GENERIC_ITEMS):
        for category in CATEGORIES:
            codes = table.get(category) or table["drug"]
            pools.append(cat.rows(codes))
    sizes = np.array([len(p) for p in pools])
    return np.concatenate(pools), np.r_[0, np.cumsum(sizes)[:-1]], sizes


def _flexible_lines(cat: Catalogue, claims: pl.DataFrame, fixed: dict[str, np.ndarray],
                    rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Drawn lines; a stay's last three balance it: tests and an exam for the non-drug part, then a drug."""
    n = claims.height
    kind = claims["kind"].to_numpy().astype(np.int64)
    ghost = (claims["mode"] == "ghost").to_numpy()
    n_fixed = np.bincount(fixed["ci"], minlength=n)
    flex = np.where(ghost, 2, np.maximum(1, claims["lines"].to_numpy() - n_fixed))
    ci = np.repeat(np.arange(n), flex)
    j = np.arange(len(ci)) - np.repeat(np.cumsum(flex) - flex, flex)
    last = j == flex[ci] - 1
    stay = (kind[ci] == 1) & ~ghost[ci]
    exams, tests = stay & (j == flex[ci] - 2), stay & (j == flex[ci] - 3)
    weights = np.array([[F.FLEX_CATEGORIES[k].get(c, 0.0) for c in CATEGORIES] for k in ("outpatient", "inpatient")])
    category = categorical(weights, kind[ci], rng)
    flat, start, size = _pools(cat)
    pool = kind[ci] * len(CATEGORIES) + category
    item = flat[start[pool] + (rng.random(len(ci)) * size[pool]).astype(np.int64)]
    item = np.where(ghost[ci], cat.rows(["L0001"])[0], item)
    uncovered = claims["uncovered"].to_numpy()[ci] & (j == 0) & (flex[ci] >= 3)
    item = np.where(uncovered, cat.rows(F.UNCOVERED_ITEMS)[rng.integers(0, len(F.UNCOVERED_ITEMS), len(ci))], item)
    for chosen, codes in ((exams, F.BALANCING_EXAMS), (tests, F.BALANCING_TESTS)):
        item = np.where(chosen, cat.rows(codes)[rng.integers(0, len(codes), len(ci))], item)
    item = np.where(last, cat.rows(F.BALANCING_DRUGS)[rng.integers(0, len(F.BALANCING_DRUGS), len(ci))], item)
    return {"ci": ci, "j": j, "last": last, "exams": exams, "tests": tests, "item": item, "fixed": fixed,
            "drug": cat.kind[item] == DRUG, "weight": rng.uniform(0.5, 1.5, len(ci)),
            "discount": np.where(rng.random(len(ci)) < F.PRICE_DISCOUNT_SHARE, rng.uniform(0.9, 1.0, len(ci)), 1.0)}


def _close(gap: np.ndarray, price: np.ndarray, cap: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Whole quantity and unit price (at most the ceiling) whose product comes closest below ``gap``."""
    qty = np.maximum(1, -(-np.maximum(gap, 0) // price))
    if cap is not None:
        qty = np.minimum(qty, np.maximum(cap, 1))
    return qty, np.where(gap > 0, np.clip(gap // qty, 1, price), price)


def _balance(cat: Catalogue, claims: pl.DataFrame, lines: dict) -> dict[str, np.ndarray]:
    """Quantities from the drug and non-drug budgets, then the balancing lines meet the target."""
    n, fixed, ci = claims.height, lines["fixed"], lines["ci"]
    f_unit = cat.price[fixed["item"]]
    f_amount = (fixed["qty"] * f_unit + 500) // 1000
    target = claims["target"].to_numpy().astype(np.float64)
    other_target = target * (1 - claims["drug_share"].to_numpy())
    days = np.maximum(claims["los"].to_numpy(), 1)[ci]
    fixed_total = np.bincount(fixed["ci"], weights=f_amount, minlength=n)
    fixed_other = np.bincount(fixed["ci"], weights=np.where(cat.kind[fixed["item"]] == DRUG, 0, f_amount), minlength=n)
    qty, unit = _drawn_quantities(cat, claims, lines, fixed_total)
    price, drug = cat.price[lines["item"]], lines["drug"]
    for balancing, per_day in ((lines["tests"], 3), (lines["exams"], 1)):  # at most 3 tests and 1 exam a day
        spent = fixed_other + np.bincount(ci, weights=np.where(drug, 0, qty * unit), minlength=n)
        q, u = _close((other_target - spent).astype(np.int64)[ci], price, per_day * days)
        qty, unit = np.where(balancing, q, qty), np.where(balancing, u, unit)
    rest = (target - fixed_total - np.bincount(ci, weights=qty * unit, minlength=n)).astype(np.int64)
    q, u = _close(rest[ci], price)
    qty, unit = np.where(lines["last"], q, qty), np.where(lines["last"], u, unit)
    return _in_order(fixed, lines, {"item": (fixed["item"], lines["item"]), "qty": (fixed["qty"], qty * 1000),
                                    "unit": (f_unit, unit), "amount": (f_amount, qty * unit)}, n)


def _drawn_quantities(cat: Catalogue, claims: pl.DataFrame, lines: dict,
                      fixed_total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whole quantities of the drawn lines: their share of the drug or non-drug budget, within daily limits."""
    n, ci, drug, w = claims.height, lines["ci"], lines["drug"], lines["weight"]
    target = claims["target"].to_numpy().astype(np.float64)
    share = claims["drug_share"].to_numpy()
    plain = ~lines["last"] & ~lines["exams"] & ~lines["tests"]
    w_other = np.bincount(ci, weights=np.where(drug | ~plain, 0, w), minlength=n)
    w_drug = np.bincount(ci, weights=np.where(drug, w, 0), minlength=n)
    budget = np.where(drug, target[ci] * share[ci] * w / np.maximum(w_drug[ci], 1e-9),
                      np.maximum(0, target * (1 - share) - fixed_total)[ci] * w / np.maximum(w_other[ci], 1e-9))
    unit = np.maximum(1, np.floor(cat.price[lines["item"]] * lines["discount"])).astype(np.int64)
    category = cat.kind[lines["item"]]
    stay, days = claims["kind"].to_numpy()[ci] == 1, np.maximum(claims["los"].to_numpy(), 1)[ci]
    cap = np.select(  # tests repeated through a stay, infusions and materials several a day
        [category >= len(CATEGORIES), category == EXAM, category == LAB, category >= TREATMENT],
        [np.ones(len(ci)), np.where(stay, np.maximum(2, days // 2), 1), np.where(stay, 2 * days, 1),
         np.where(stay, 4 * days, 3)],
        default=np.where(stay, 5000, 10))
    return np.where(plain, np.clip(np.round(budget / unit), 1, np.maximum(cap, 1)).astype(np.int64), 0), unit


def _in_order(fixed: dict, lines: dict, columns: dict[str, tuple[np.ndarray, np.ndarray]], n: int) -> dict[str, np.ndarray]:
    """Each claim's lines together, fixed lines first: placed by position, without a sort."""
    n_fixed = np.bincount(fixed["ci"], minlength=n)
    n_lines = n_fixed + np.bincount(lines["ci"], minlength=n)
    offset = np.cumsum(n_lines) - n_lines
    at = np.r_[offset[fixed["ci"]] + fixed["rank"], offset[lines["ci"]] + n_fixed[lines["ci"]] + lines["j"]]
    placed = {"ci": np.repeat(np.arange(n), n_lines),
              "line_no": (np.arange(len(at)) - np.repeat(offset, n_lines) + 1).astype(np.int32)}
    for name, (first, then) in columns.items():
        placed[name] = np.empty(len(at), dtype=np.int64)
        placed[name][at] = np.r_[first, then]
    return placed
