"""The reference data (``config/``) as arrays, so every later step can index instead of look up.

Counties, institutions, schemes and the catalogue are read once into NumPy tables keyed by
small integers (county index, level, year index); a missing scheme is refused here with the
county and year named, rather than discovered as a wrong amount later.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import numpy as np
import polars as pl

from ncms.reference import Reference

from . import figures as F

EPOCH = date(1970, 1, 1)


def day(y: int, m: int = 1, d: int = 1) -> int:
    """Days since 1970-01-01: the internal form of every date."""
    return (date(y, m, d) - EPOCH).days


def fen(value: Decimal | str | int) -> int:
    return int((Decimal(str(value)) * 100).to_integral_value())


@dataclass
class World:
    years: tuple[int, ...]
    counties: pl.DataFrame  # county, code, name, prefecture, population
    institutions: pl.DataFrame  # inst, code, name, level, area_code, county (-1 outside the counties)
    pool: np.ndarray  # [county, level, k] -> inst
    pool_n: np.ndarray  # [county, level] -> how many
    deductible: np.ndarray  # [county, year_idx, kind, level] fen; kind 0 outpatient, 1 inpatient
    ratio_bp: np.ndarray  # same shape, ratio in 1/10000
    visit_cap: np.ndarray  # same shape, fen, -1 = none
    annual_cap: np.ndarray  # [county, year_idx] fen
    referral_required: np.ndarray  # [county, year_idx] bool
    cut_bp: np.ndarray  # [county, year_idx, level] inpatient ratio points removed without referral, 1/10000
    outpatient_cap: np.ndarray  # [county, year_idx] fen of outpatient compensation a member's year, -1 = none
    catalogue: pl.DataFrame  # code, name, category, price, covered
    item_rules: pl.DataFrame  # code, allowed_sex (1 M, 0 F, null), min_age, max_age
    diagnosis_rules: pl.DataFrame  # prefix, allowed_sex, min_age, max_age

    @property
    def county_codes(self) -> list[str]:
        return self.counties["code"].to_list()

    def year_index(self, years: np.ndarray) -> np.ndarray:
        return np.asarray(years) - self.years[0]

    def year_start(self, years: np.ndarray) -> np.ndarray:
        """Day number of 1 January of each year (of the generated years, or the one after)."""
        table = np.array([day(y) for y in (*self.years, self.years[-1] + 1)])
        return table[np.asarray(years) - self.years[0]]

    def price(self, code: str) -> int:
        return int(self.catalogue.filter(pl.col("code") == code)["price"][0])


def build_world(ref: Reference, years: tuple[int, ...]) -> World:
    years = tuple(sorted(set(years)))
    if years != tuple(range(years[0], years[-1] + 1)):
        raise ValueError(f"years must be consecutive, got {years}")
    counties = pl.DataFrame({
        "county": range(len(ref.counties)),
        "code": [c["code"] for c in ref.counties],
        "name": [c["name"] for c in ref.counties],
        "prefecture": [c["prefecture_code"] for c in ref.counties],
        "population": [float(c.get("agricultural_population") or 100_000) for c in ref.counties],
    })
    if counties.height == 0:
        raise ValueError("the reference has no counties: list them in config/province.yaml")
    index = {code: i for i, code in enumerate(counties["code"])}
    institutions = pl.DataFrame({
        "inst": range(len(ref.institutions)),
        "code": [i["code"] for i in ref.institutions],
        "name": [i["name"] for i in ref.institutions],
        "level": [F.LEVELS.index(str(i["level"].value)) for i in ref.institutions],
        "area_code": [i["area_code"] for i in ref.institutions],
    }, schema_overrides={"level": pl.Int8})
    institutions = institutions.with_columns(
        pl.col("area_code").replace_strict(index, default=-1, return_dtype=pl.Int32).alias("county"))
    pool, pool_n = _pools(counties, institutions)
    world = World(years, counties, institutions, pool, pool_n,
                  *_schemes(ref, index, years), catalogue=_catalogue(ref),
                  item_rules=_rules(ref, "item"), diagnosis_rules=_rules(ref, "diagnosis"))
    return world


def _pools(counties: pl.DataFrame, institutions: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Where a member of each county is treated at each level; a missing level falls back."""
    lists: dict[tuple[int, int], list[int]] = {}
    for c, prefecture in enumerate(counties["prefecture"]):
        for level in range(len(F.LEVELS)):
            rows = institutions.filter(pl.col("level") == level)
            if level <= F.COUNTY:
                rows = rows.filter(pl.col("county") == c)
            elif level == F.MUNICIPAL:
                own = rows.filter(pl.col("area_code").str.starts_with(prefecture))
                rows = own if own.height else rows
            lists[c, level] = rows["inst"].to_list()
        for level, fallbacks in ((F.COUNTY, ()), (F.TOWNSHIP, (F.COUNTY,)), (F.VILLAGE, (F.TOWNSHIP, F.COUNTY)),
                                 (F.MUNICIPAL, (F.PROVINCIAL, F.COUNTY)), (F.PROVINCIAL, (F.MUNICIPAL, F.COUNTY)),
                                 (F.OUT_OF_PROVINCE, (F.PROVINCIAL, F.MUNICIPAL, F.COUNTY))):
            for other in fallbacks:
                if not lists[c, level]:
                    lists[c, level] = lists[c, other]
            if not lists[c, level]:
                raise ValueError(f"county {counties['code'][c]} has no {F.LEVELS[level]} institution "
                                 "in config/institutions.csv: add one to generate its claims")
    width = max(len(v) for v in lists.values())
    pool = np.zeros((counties.height, len(F.LEVELS), width), dtype=np.int32)
    pool_n = np.zeros((counties.height, len(F.LEVELS)), dtype=np.int32)
    for (c, level), members in lists.items():
        pool[c, level, :len(members)] = members
        pool_n[c, level] = len(members)
    return pool, pool_n


def _schemes(ref: Reference, index: dict[str, int], years: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    shape = (len(index), len(years), 2, len(F.LEVELS))
    deductible = np.zeros(shape, dtype=np.int64)
    ratio = np.zeros(shape, dtype=np.int64)
    visit_cap = np.full(shape, -1, dtype=np.int64)
    cap = np.zeros(shape[:2], dtype=np.int64)
    required = np.ones(shape[:2], dtype=bool)
    cut = np.zeros((*shape[:2], len(F.LEVELS)), dtype=np.int64)
    outpatient_cap = np.full(shape[:2], -1, dtype=np.int64)
    seen = set()
    for s in ref.schemes:
        if s["year"] not in years or s["county_code"] not in index:
            continue
        c, y = index[s["county_code"]], s["year"] - years[0]
        seen.add((c, y))
        cap[c, y] = fen(s["annual_cap"])
        required[c, y] = s["referral_required"]
        if s["outpatient_annual_cap"] is not None:
            outpatient_cap[c, y] = fen(s["outpatient_annual_cap"])
        for lv in s["levels"]:
            at = (c, y, int(lv["kind"].value == "inpatient"), F.LEVELS.index(lv["level"].value))
            if at[2] == 1:
                cut[c, y, at[3]] = int(lv["unreferred_ratio_cut"] * 10000)
            deductible[at] = fen(lv["deductible"])
            ratio[at] = int(lv["ratio"] * 10000)
            if lv["per_visit_cap"] is not None:
                visit_cap[at] = fen(lv["per_visit_cap"])
    for code, c in index.items():
        for y, year in enumerate(years):
            if (c, y) not in seen:
                raise ValueError(f"no compensation scheme for county {code} in {year}: add it to "
                                 "config/schemes.yaml or generate other years")
    return deductible, ratio, visit_cap, cap, required, cut, outpatient_cap


def _catalogue(ref: Reference) -> pl.DataFrame:
    return pl.DataFrame({
        "code": [i["code"] for i in ref.catalogue],
        "name": [i["name"] for i in ref.catalogue],
        "category": [i["category"].value for i in ref.catalogue],
        "price": [fen(i["price"]) for i in ref.catalogue],
        "covered": [bool(i["covered"]) for i in ref.catalogue],
    }, schema_overrides={"price": pl.Int64})


def _rules(ref: Reference, kind: str) -> pl.DataFrame:
    rows = [r for r in ref.restrictions if r["kind"].value == kind]
    return pl.DataFrame({
        "code": [r["code"] for r in rows],
        "allowed_sex": [None if r["allowed_sex"] is None else int(r["allowed_sex"].value == "M") for r in rows],
        "min_age": [r["min_age"] for r in rows],
        "max_age": [r["max_age"] for r in rows],
    }, schema={"code": pl.String, "allowed_sex": pl.Int8, "min_age": pl.Int32, "max_age": pl.Int32})
