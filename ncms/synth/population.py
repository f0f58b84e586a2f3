"""The members: households of 1-6 people on each county's register, their deaths and enrolments.

Households are drawn first (size mean 3.6, a head aged 25-85), then their members by
relation: a spouse of about the head's age and the other sex, children 20-38 years younger,
parents 20-32 years older, and grandchildren in older households (the left-behind children of
migrant parents), which gives the wide-topped rural pyramid. Each county's register is
proportional to its agricultural population. Households enrol as a whole, 95 % a year, in
the autumn before the year; deaths follow a crude rate of 7 per mille, mostly of the old.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from . import figures as F
from .draw import pick_from
from .identity import age_in_year, national_ids, names, surname_index, ymd
from .world import World, day


RELATIONS = pl.Series(["head", "spouse", "child", "parent", "other"])


@dataclass
class People:
    members: pl.DataFrame
    enrolments: pl.DataFrame  # m, year, enrolled_on, contribution

    def ages(self, m: np.ndarray, year: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """Ages of members ``m`` on 1 January and 31 December of ``year``."""
        return age_in_year(self.members["birth_year"].to_numpy()[m], self.members["birth_md"].to_numpy()[m], year)


def generate_people(world: World, total: int, rng: np.random.Generator, *, min_deaths: int = 0) -> People:
    share = world.counties["population"].to_numpy()
    targets = np.maximum(1, np.round(total * share / share.sum()).astype(np.int64))
    households = pl.concat([_households(world, c, int(n), rng) for c, n in enumerate(targets)])
    members = _members(world, households, rng)
    members = _deaths(world, members, rng, min_deaths)
    enrolments = _enrolments(world, households, members, rng)
    return People(members, enrolments)


def _households(world: World, county: int, target: int, rng: np.random.Generator) -> pl.DataFrame:
    sizes = rng.choice(F.HOUSEHOLD_SIZES, size=int(target / 3.5) + 20, p=F.HOUSEHOLD_SIZE_P)
    keep = max(1, int(np.searchsorted(np.cumsum(sizes), target, side="right")))
    sizes = sizes[:keep]
    n = len(sizes)
    townships, clinics = _places(world, county)
    # townships differ in size: from 0.4 to 1.6 times the county's mean, by their order
    weights = np.linspace(0.4, 1.6, len(townships)) if len(townships) > 1 else np.ones(1)
    t = rng.choice(len(townships), size=n, p=weights / weights.sum())
    village_clinic = pick_from([np.asarray(c, dtype=np.int32) for c in clinics], t, rng.random(n))
    clinic_village = world.institutions["name"].gather(village_clinic).str.extract(r"[镇乡](.+?村)", 1)
    synthetic = pl.Series(F.VILLAGE_NAMES).gather(rng.integers(0, len(F.VILLAGE_NAMES), n))
    own = pl.Series(rng.random(n) < 0.4) & clinic_village.is_not_null()
    code = world.counties["code"][county]
    return pl.DataFrame({
        "county": np.full(n, county, dtype=np.int32),
        "household_no": code + pl.Series(np.arange(1, n + 1)).cast(pl.String).str.zfill(7),
        "size": sizes.astype(np.int32),
        "township": pl.Series([name for name, _ in townships]).gather(t),
        "home_township": np.array([centre for _, centre in townships], dtype=np.int32)[t],
        "home_village": village_clinic,
        "village": clinic_village.zip_with(own, synthetic),
        "surname": surname_index(n, rng),
        "head_age": _head_ages(n, rng),
        "head_male": rng.random(n) < 0.85,
    })


def _places(world: World, county: int) -> tuple[list[tuple[str, int]], list[list[int]]]:
    """Townships (name, health centre) and the village clinics that serve each."""
    inst = world.institutions
    centres = world.pool[county, F.TOWNSHIP, :world.pool_n[county, F.TOWNSHIP]]
    villages = world.pool[county, F.VILLAGE, :world.pool_n[county, F.VILLAGE]]
    centre_names = inst["name"].gather(centres).str.extract(r"(?:.*?[县市区])?(.+?[镇乡])", 1).fill_null("城关镇")
    village_towns = inst["name"].gather(villages).str.extract(r"(?:.*?[县市区])?(.+?[镇乡])", 1)
    townships, clinics = [], []
    for name, centre in zip(centre_names.to_list(), centres.tolist()):
        own = [v for v, town in zip(villages.tolist(), village_towns.to_list()) if town == name]
        townships.append((name, centre))
        clinics.append(own or villages.tolist())
    return townships, clinics


def _head_ages(n: int, rng: np.random.Generator) -> np.ndarray:
    bands = np.array([(lo, hi) for lo, hi, _ in F.HEAD_AGES])
    p = np.array([s for *_, s in F.HEAD_AGES])
    band = rng.choice(len(bands), size=n, p=p / p.sum())
    return rng.integers(bands[band, 0], bands[band, 1] + 1)


def _members(world: World, hh: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """One row per person; relation decides age and sex relative to the head."""
    size = hh["size"].to_numpy()
    h = np.repeat(np.arange(hh.height), size)
    pos = np.arange(len(h)) - np.repeat(np.cumsum(size) - size, size) + 1
    head_age = hh["head_age"].to_numpy()[h]
    head_male = hh["head_male"].to_numpy()[h]
    n = len(h)
    u = rng.random(n)
    head, spouse, child, parent, other = range(5)
    relation = np.where(pos == 1, head, child)
    second, later = pos == 2, pos >= 3
    relation[second & (u < 0.85)] = spouse
    relation[second & (u >= 0.85) & (head_age < 45)] = parent
    relation[later & (head_age >= 50) & (u < 0.45)] = other  # grandchildren
    relation[later & (u >= 0.85)] = parent
    child_gap = 20 + (rng.random(n) * np.clip(head_age - 20, 0, 18)).astype(np.int64)
    age = np.select(
        [relation == head, relation == spouse, relation == parent, relation == other],
        [head_age, np.clip(head_age + np.round(rng.normal(-2, 3, n)).astype(np.int64), 18, 95),
         np.minimum(95, head_age + rng.integers(20, 33, n)), rng.integers(0, 13, n)],
        default=head_age - child_gap)
    sex = np.where(relation == head, head_male, np.where(relation == spouse, ~head_male, rng.random(n) < 0.51))
    sex = sex.astype(np.int64)
    birth = day(world.years[0]) - 1 - np.floor((age + rng.random(n)) * 365.2425).astype(np.int64)
    birth_year, birth_month, birth_day = ymd(birth)
    county = hh["county"].to_numpy()[h]
    area = world.counties["code"].cast(pl.Int64).to_numpy()[county]
    own_surname = (relation != spouse) & ~((relation == parent) & (sex == 0))
    surname = np.where(own_surname, hh["surname"].to_numpy()[h], surname_index(n, rng))
    household_no = hh["household_no"].gather(h)
    return pl.DataFrame({
        "m": np.arange(n, dtype=np.int64),
        "county": county.astype(np.int32),
        "household": h.astype(np.int64),
        "household_no": household_no,
        "member_no": household_no + pl.Series(pos).cast(pl.String).str.zfill(2),
        "national_id": national_ids(area, birth, sex, rng),
        "name": names(surname, sex, rng),
        "relation": RELATIONS.gather(relation),
        "township": hh["township"].gather(h),
        "village": hh["village"].gather(h),
        "sex": sex.astype(np.int8),
        "birth": birth.astype(np.int32),
        "birth_year": birth_year.astype(np.int32), "birth_md": (birth_month * 100 + birth_day).astype(np.int32),
        "home_village": hh["home_village"].to_numpy()[h],
        "home_township": hh["home_township"].to_numpy()[h],
    }).with_columns(death=pl.lit(None, pl.Int32), no_claims=pl.lit(False),
                    family=pl.lit(None, pl.String), detail=pl.lit(None, pl.String))


def _deaths(world: World, members: pl.DataFrame, rng: np.random.Generator, min_deaths: int) -> pl.DataFrame:
    """Deaths by age, year by year; at least ``min_deaths`` before mid-November for misuse to use."""
    n = members.height
    birth = members["birth"].to_numpy()
    death = np.full(n, -1, dtype=np.int64)
    for year in world.years:
        age = (day(year) - birth) / 365.2425
        weight = np.select([age < 1, age < 50, age < 65, age < 75], [1.5, 0.2, 1.0, 3.0], default=9.0)
        p = F.DEATH_RATE * weight / weight.mean()
        dies = (death < 0) & (rng.random(n) < p)
        death[dies] = day(year) + rng.integers(0, day(year + 1) - day(year), dies.sum())
    mid_november = {y: day(y, 11, 15) for y in world.years}
    cutoff = np.vectorize(mid_november.get, otypes=[np.int64])(_year_of(death, world)) if n else death
    early = (death >= 0) & (death < cutoff)
    missing = min_deaths - int(early.sum())
    if missing > 0:
        candidates = np.flatnonzero(death < 0)
        chosen = candidates[np.argsort(birth[candidates], kind="stable")[:missing * 3]]
        chosen = rng.choice(chosen, size=min(missing, len(chosen)), replace=False)
        year = np.asarray(world.years)[rng.integers(0, len(world.years), len(chosen))]
        death[chosen] = np.array([day(int(y)) for y in year]) + rng.integers(10, 300, len(chosen))
    death = pl.Series(death).cast(pl.Int32)
    return members.with_columns(death=pl.when(death >= 0).then(death))


def _year_of(days: np.ndarray, world: World) -> np.ndarray:
    starts = np.array([day(y) for y in world.years])
    return np.asarray(world.years)[np.clip(np.searchsorted(starts, days, side="right") - 1, 0, len(starts) - 1)]


def _enrolments(world: World, hh: pl.DataFrame, members: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Whole households enrol (or not) each year; the dead of earlier years do not."""
    frames = []
    h = members["household"].to_numpy()
    death = members["death"].fill_null(2**31 - 1).to_numpy()
    for year in world.years:
        enrols = rng.random(hh.height) < F.ENROLMENT_RATE
        on = day(year - 1, 10, 1) + rng.integers(0, 92, hh.height)
        rows = np.flatnonzero(enrols[h] & (death >= day(year)))
        frames.append(pl.DataFrame({
            "m": rows.astype(np.int64), "year": np.full(len(rows), year, dtype=np.int32),
            "enrolled_on": on[h[rows]].astype(np.int32),
            "contribution": np.full(len(rows), contribution(year), dtype=np.int64),
        }))
    return pl.concat(frames)


def per_capita(year: int) -> tuple[int, int, int, int]:
    """Financing per member (yuan) by source: the table's year, or the nearest year it has."""
    return F.FINANCING_PER_CAPITA[min(F.FINANCING_PER_CAPITA, key=lambda y: abs(y - year))]


def contribution(year: int) -> int:
    """Individual contribution in fen."""
    return per_capita(year)[0] * 100
