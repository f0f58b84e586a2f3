"""Rows broken on purpose, for the validator to refuse and the receipts to explain.

The broken rows are spread over four files, in turn: a member whose national ID has a wrong
check character, a claim whose eligible cost is above its total, an enrolment dated 30
February, a claim at an institution nobody registered, and an item line whose unit price
lost a digit (its amount is no longer quantity × unit price, while the amounts still add up
to the claim's total). They are taken from rows no injected case involves. The screen
refuses all but the unknown institution, which only the check against the registered
institutions finds. When loaded, a refused member takes its enrolments with it
(``unknown_member``) and a refused claim its items (``claim_rejected``).
"""
from __future__ import annotations

import numpy as np
import polars as pl

from .draw import allocate
from .fmt import money
from .output import TRUTH_SCHEMA
from .world import World

REASONS = ("bad_check_character", "eligible_gt_total", "impossible_date", "unknown_institution", "amount_mismatch")
CHECK = "0123456789X"


def break_rows(world: World, frames: dict[str, pl.DataFrame], truth: pl.DataFrame, n: int,
               rng: np.random.Generator) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    if n <= 0:
        return frames, truth
    counts = dict(zip(REASONS, allocate(n, np.ones(len(REASONS))).tolist()))
    involved = _involved(frames, truth)
    frames = dict(frames)
    labels = []
    member, labels_m = _bad_ids(frames["member"], involved, counts["bad_check_character"], rng)
    enrolment, labels_e = _bad_dates(frames["enrolment"], involved, counts["impossible_date"], rng)
    claims, labels_c, broken = _bad_claims(world, frames["claim"], truth, counts, rng)
    items, labels_i = _bad_amounts(frames["claim_item"], truth, broken, counts["amount_mismatch"], rng)
    frames.update(member=member, enrolment=enrolment, claim=claims, claim_item=items)
    labels = [truth] + [f.cast(TRUTH_SCHEMA) for f in (labels_m, labels_e, labels_c, labels_i)]
    return frames, pl.concat(labels).sort("family", "county_code", "subject_key")


def _label(frame: pl.DataFrame, reason: str, kind: str, key: pl.Expr, detail: str) -> pl.DataFrame:
    return frame.select(pl.lit(f"malformed:{reason}").alias("family"), "county_code", pl.lit(kind).alias("subject_kind"),
                        key.alias("subject_key"), pl.lit(detail).alias("detail"))


def _involved(frames: dict[str, pl.DataFrame], truth: pl.DataFrame) -> pl.DataFrame:
    """Members that an injected case is about, directly or through one of their claims."""
    claims = truth.filter(pl.col("subject_kind") == "claim").select("county_code", pl.col("subject_key").alias("claim_id"))
    via_claims = frames["claim"].join(claims, on=["county_code", "claim_id"], how="semi").select("county_code", "member_no")
    direct = truth.filter(pl.col("subject_kind") == "member").select("county_code", pl.col("subject_key").alias("member_no"))
    return pl.concat([via_claims, direct]).unique()


def _choose(frame: pl.DataFrame, avoid: pl.DataFrame, on: list[str], k: int, rng: np.random.Generator) -> list[int]:
    rows = np.sort(frame.with_row_index("_i").join(avoid, on=on, how="anti")["_i"].to_numpy())
    return rng.choice(rows, size=min(k, len(rows)), replace=False).tolist() if k else []


def _bad_ids(members: pl.DataFrame, involved: pl.DataFrame, k: int, rng: np.random.Generator):
    hit = pl.int_range(pl.len()).is_in(_choose(members, involved, ["county_code", "member_no"], k, rng))
    position = pl.lit(CHECK).str.find(pl.col("national_id").str.slice(17, 1), literal=True)
    shift = pl.lit(pl.Series(rng.integers(1, 11, members.height)))
    wrong = pl.lit(CHECK).str.slice((position + shift) % 11, 1)
    members = members.with_columns(national_id=pl.when(hit).then(pl.col("national_id").str.slice(0, 17) + wrong)
                                   .otherwise(pl.col("national_id")))
    return members, _label(members.filter(hit), "bad_check_character", "member", pl.col("member_no"),
                           "national_id has a wrong check character")


def _bad_dates(enrolments: pl.DataFrame, involved: pl.DataFrame, k: int, rng: np.random.Generator):
    hit = pl.int_range(pl.len()).is_in(_choose(enrolments, involved, ["county_code", "member_no"], k, rng))
    enrolments = enrolments.with_columns(enrolled_on=pl.when(hit).then(pl.col("year") + "-02-30")
                                         .otherwise(pl.col("enrolled_on")))
    return enrolments, _label(enrolments.filter(hit), "impossible_date", "enrolment",
                              pl.col("member_no") + "/" + pl.col("year"), "enrolled_on is 30 February")


def _bad_claims(world: World, claims: pl.DataFrame, truth: pl.DataFrame, counts: dict[str, int], rng: np.random.Generator):
    labelled = truth.filter(pl.col("subject_kind") == "claim").select("county_code", pl.col("subject_key").alias("claim_id"))
    wanted = counts["eligible_gt_total"] + counts["unknown_institution"]
    chosen = _choose(claims, labelled, ["county_code", "claim_id"], wanted, rng)
    over, unknown = chosen[:counts["eligible_gt_total"]], chosen[counts["eligible_gt_total"]:]
    row = pl.int_range(pl.len())
    eligible = pl.col("total_amount").str.replace(".", "", literal=True).cast(pl.Int64) \
        + pl.lit(pl.Series(rng.integers(100, 5000, claims.height)))
    code = pl.col("county_code") + "29" + pl.lit(pl.Series(rng.integers(9000, 10000, claims.height))).cast(pl.String)
    claims = claims.with_columns(
        eligible_amount=pl.when(row.is_in(over)).then(money(eligible)).otherwise(pl.col("eligible_amount")),
        institution_code=pl.when(row.is_in(unknown)).then(code).otherwise(pl.col("institution_code")))
    if claims[unknown]["institution_code"].is_in(world.institutions["code"].implode()).any():
        raise AssertionError("a made-up institution code is registered")
    labels = pl.concat([
        _label(claims[over], "eligible_gt_total", "claim", pl.col("claim_id"),
               "eligible_amount is greater than total_amount"),
        _label(claims[unknown], "unknown_institution", "claim", pl.col("claim_id"),
               "institution_code is not registered in the province")])
    return claims, labels, claims[chosen].select("county_code", "claim_id")


def _bad_amounts(items: pl.DataFrame, truth: pl.DataFrame, broken: pl.DataFrame, k: int, rng: np.random.Generator):
    """Unit price divided by ten on ``k`` lines of clean claims (one line per claim)."""
    fen = pl.col("unit_price").str.replace(".", "", literal=True).cast(pl.Int64)
    avoid = pl.concat([broken, truth.filter(pl.col("subject_kind") == "claim")
                       .select("county_code", pl.col("subject_key").alias("claim_id"))])
    lines = items.with_row_index("_j").filter(fen >= 20) \
        .unique(["county_code", "claim_id"], keep="first", maintain_order=True)
    rows = [int(lines["_j"][i]) for i in _choose(lines, avoid, ["county_code", "claim_id"], k, rng)]
    hit = pl.int_range(pl.len()).is_in(rows)
    items = items.with_columns(unit_price=pl.when(hit).then(money(fen // 10)).otherwise(pl.col("unit_price")))
    return items, _label(items.filter(hit), "amount_mismatch", "claim_item",
                         pl.col("claim_id") + "/" + pl.col("line_no"),
                         "amount is not quantity x unit_price (the unit price lost a digit)")
