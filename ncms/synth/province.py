"""``generate``: the whole synthetic province, from the reference data and a seed.

The steps run in a fixed order on one ``numpy.random.default_rng(seed)``, so the same seed
and arguments give the same frames (and, written, the same package bytes). Members come
first, then the claims as specifications (normal care, injected misuse, near misses), the
anomalous institutions, the calendar, the cost lines, the misuse in what was billed, the
compensation, and last the exchange records and the ground truth.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from ncms.reference import Reference

from . import figures as F
from . import anomaly, misuse, nearmiss
from .calendar import dates, place
from .claims import normal_specs
from .compensation import compensate, overpay
from .financing import financing
from .items import generate_items
from .malformed import break_rows
from .output import exchange_frames, label_cap_breaches, totals, truth
from .population import generate_people
from .registry import Registry
from .tamper import tamper
from .world import build_world


@dataclass
class SyntheticProvince:
    frames: dict[str, pl.DataFrame]  # record_type -> rows of all counties, strings, plus county_code
    truth: pl.DataFrame  # family, county_code, subject_kind, subject_key, detail
    seed: int


def generate(reference: Reference, *, seed: int = 1, claims: int = 50_000, years: tuple[int, ...] = (2011,),
             misuse_rate: float = 0.01, anomalous_institutions: int = 3, malformed: int = 0) -> SyntheticProvince:
    """A province of about ``claims`` claims (±1 %) over ``years``, ``misuse_rate`` of them misuse."""
    if claims < 1:
        raise ValueError("claims must be at least 1")
    rng = np.random.default_rng(seed)
    world = build_world(reference, tuple(years))
    plan = misuse.plan(claims, misuse_rate)
    visits = F.ENROLMENT_RATE * (F.OUTPATIENT_PER_MEMBER_YEAR + F.ADMISSIONS_PER_MEMBER_YEAR) * len(world.years)
    people = generate_people(world, max(20, math.ceil(claims / visits)), rng,
                             min_deaths=2 * plan["care_after_death"] + 2)
    people, pairs = misuse.duplicate_enrolment(world, people, plan["duplicate_enrolment"], rng)
    reg = Registry(world, people)
    reg.used[[a for a, _, _ in pairs]] = True
    special, breached = _special(reg, plan, pairs, claims, rng)
    normal = normal_specs(world, people, max(0, claims - sum(f.height for f in special)), rng)
    specs = _assemble(normal, special)
    specs, institutions = anomaly.anomalous_institutions(world, specs, anomalous_institutions, rng)
    specs = place(specs, people.members["death"].fill_null(-1).to_numpy(), world, rng)
    table = dates(world, specs, rng)
    items = generate_items(world, table, rng)
    table, items = tamper(world, people, table, items, plan, rng)
    table = compensate(world, totals(world, table, items))
    table = overpay(world, table, plan["overpayment"], rng)
    people = label_cap_breaches(world, people, table, breached)
    frames = exchange_frames(world, people, table, items, financing(people))
    frames, labels = break_rows(world, frames, truth(world, people, table, institutions), malformed, rng)
    return SyntheticProvince(frames, labels, seed)


def _special(reg: Registry, plan: dict[str, int], pairs: list, claims: int,
             rng: np.random.Generator) -> tuple[list[pl.DataFrame], list[int]]:
    """The blocks of injected misuse and of near misses, before normal care fills the rest."""
    breaches, breached = misuse.cap_breaches(reg, plan["cap_breach"], rng)
    frames = [
        misuse.duplicate_claims(reg, plan["duplicate_claim"], pairs, rng),
        misuse.split_admissions(reg, plan["split_admission"], rng),
        misuse.overlapping_stays(reg, plan["overlapping_stay"], rng),
        misuse.outpatient_during_stays(reg, plan["outpatient_during_stay"], rng),
        misuse.care_after_death(reg, plan["care_after_death"], rng),
        misuse.ghost_stays(reg, plan["ghost_stay"], rng),
        misuse.low_standard_admissions(reg, plan["low_standard_admission"], rng),
        misuse.not_enrolled(reg, plan["not_enrolled"], rng),
        misuse.missing_referrals(reg, plan["missing_referral"], rng),
        breaches,
        nearmiss.chemotherapy(reg, max(2, round(claims * 0.0004)), rng),
        nearmiss.readmissions_after_window(reg, max(2, round(claims * 0.0005)), rng),
    ]
    return [f for f in frames if f.height], breached.tolist()


def _assemble(normal: pl.DataFrame, special: list[pl.DataFrame]) -> pl.DataFrame:
    """Number blocks and specs (normal care first, each claim its own block), resolve twins and copies."""
    normal = normal.with_columns(spec=pl.int_range(pl.len(), dtype=pl.Int64), block=pl.int_range(pl.len(), dtype=pl.Int64),
                                 twin=pl.lit(None, pl.Int64), copy_of=pl.lit(None, pl.Int64))
    parts, offset = [], normal.height
    for frame in special:
        frame = frame.sort("unit", "part").with_columns(block=pl.col("unit") + offset)
        offset += int(frame["unit"].max()) + 1
        parts.append(frame)
    if not parts:
        return normal.drop("twin_part", "copy_part")
    specs = pl.concat(parts, how="diagonal_relaxed").with_row_index("spec", offset=normal.height) \
        .with_columns(pl.col("spec").cast(pl.Int64))
    index = specs.select("block", "part", pl.col("spec").alias("_ref"))
    for column, ref in (("twin_part", "twin"), ("copy_part", "copy_of")):
        specs = specs.join(index, left_on=["block", column], right_on=["block", "part"], how="left",
                           maintain_order="left").rename({"_ref": ref})
    return pl.concat([normal, specs.drop("unit", "part")], how="diagonal_relaxed").drop("twin_part", "copy_part")
