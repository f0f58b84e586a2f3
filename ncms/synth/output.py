"""The internal tables as the exchange format's records, and the ground truth.

Every record frame has exactly the exchange fields of its record type, as strings (null for
no value), plus ``county_code``; the truth has one row per injected case.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from ncms.exchange.schemas import RECORD_SCHEMAS

from .draw import order_by
from .fmt import date, money, quantity
from .items import describe
from .population import People
from .world import World

TRUTH_SCHEMA = {"family": pl.String, "county_code": pl.String, "subject_kind": pl.String,
                "subject_key": pl.String, "detail": pl.String}


def _county(world: World) -> pl.Expr:
    return pl.col("county").replace_strict(dict(enumerate(world.county_codes)), return_dtype=pl.String)


def _fields(record_type: str, frame: pl.DataFrame) -> pl.DataFrame:
    names = list(RECORD_SCHEMAS[record_type].specs())
    return frame.select(pl.col("county_code").cast(pl.String), *[pl.col(n).cast(pl.String) for n in names])


def exchange_frames(world: World, people: People, claims: pl.DataFrame, items: pl.DataFrame,
                    funds: pl.DataFrame) -> dict[str, pl.DataFrame]:
    members = people.members.sort("county", "m").with_columns(county_code=_county(world), death_date=date(pl.col("death")))
    enrolments = people.enrolments.join(people.members.select("m", "county", "member_no"), on="m", how="left",
                                        maintain_order="left").sort("county", "year", "m")
    enrolments = enrolments.with_columns(county_code=_county(world), contribution=money(pl.col("contribution")),
                                         enrolled_on=date(pl.col("enrolled_on")))
    order = order_by((claims["county"].to_numpy(), 16), (claims["seq"].to_numpy(), 32))
    funds = funds.with_columns(county_code=_county(world), amount=money(pl.col("amount")))
    return {
        "member": _fields("member", members),
        "enrolment": _fields("enrolment", enrolments),
        "claim": _fields("claim", _claims(world, people, claims, order)),
        "claim_item": _fields("claim_item", _items(world, claims, items, order)),
        "financing": _fields("financing", funds),
    }


def _claims(world: World, people: People, claims: pl.DataFrame, order: np.ndarray) -> pl.DataFrame:
    columns = ["county", "claim_id", "kind", "m", "inst", "adm", "dis", "settle", "dx", "total", "eligible",
               "comp", "referral"]
    rows = claims.select(columns)[order]
    return rows.with_columns(
        county_code=_county(world),
        kind=pl.when(pl.col("kind") == 1).then(pl.lit("inpatient")).otherwise(pl.lit("outpatient")),
        member_no=people.members["member_no"].gather(rows["m"]), national_id=people.members["national_id"].gather(rows["m"]),
        institution_code=world.institutions["code"].gather(rows["inst"]), admission_date=date(pl.col("adm")),
        discharge_date=date(pl.col("dis")), settlement_date=date(pl.col("settle")), diagnosis_code=pl.col("dx"),
        total_amount=money(pl.col("total")), eligible_amount=money(pl.col("eligible")),
        compensated_amount=money(pl.col("comp")), voided=pl.lit("0"))


def _items(world: World, claims: pl.DataFrame, items: pl.DataFrame, order: np.ndarray) -> pl.DataFrame:
    """The lines in the claims' order; each claim's lines are contiguous, so no sort is needed."""
    spec = items["spec"].to_numpy()
    first_row = np.zeros(int(spec.max(initial=0)) + 1, dtype=np.int64)
    starts = np.flatnonzero(items["line_no"].to_numpy() == 1)
    first_row[spec[starts]] = starts
    count = np.bincount(spec, minlength=len(first_row))
    wanted = claims["spec"].to_numpy()[order]
    lengths = count[wanted]
    begin = np.cumsum(lengths) - lengths
    rows = np.repeat(first_row[wanted] - begin, lengths) + np.arange(lengths.sum())
    owner = np.repeat(order, lengths)
    lines = describe(world, pl.DataFrame({c: items[c].to_numpy()[rows] for c in items.columns}))
    return lines.with_columns(
        county_code=pl.Series(world.county_codes).gather(claims["county"].to_numpy()[owner]),
        claim_id=claims["claim_id"].gather(owner), item_code=pl.col("code"), item_name=pl.col("name"),
        quantity=quantity(pl.col("qty")), unit_price=money(pl.col("unit")), amount=money(pl.col("amount")))


def truth(world: World, people: People, claims: pl.DataFrame, institutions: pl.DataFrame) -> pl.DataFrame:
    twins = claims.select(pl.col("spec").alias("twin"), pl.col("claim_id").alias("_twin_id"))
    labelled = claims.filter(pl.col("family").is_not_null()).join(twins, on="twin", how="left", maintain_order="left")
    on_claims = labelled.select(
        "family", _county(world).alias("county_code"), pl.lit("claim").alias("subject_kind"),
        pl.col("claim_id").alias("subject_key"),
        pl.when(pl.col("_twin_id").is_not_null()).then(pl.col("detail") + " (see claim " + pl.col("_twin_id") + ")")
        .otherwise(pl.col("detail")).alias("detail"))
    on_members = people.members.filter(pl.col("family").is_not_null()).select(
        "family", _county(world).alias("county_code"), pl.lit("member").alias("subject_kind"),
        pl.col("member_no").alias("subject_key"), "detail")
    frames = [f.cast(TRUTH_SCHEMA) for f in (on_claims, on_members, institutions)]
    return pl.concat(frames).sort("family", "county_code", "subject_key")


def totals(world: World, claims: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    """Total = sum of the lines; eligible = sum of the covered lines."""
    covered = describe(world, items).group_by("spec").agg(
        total=pl.col("amount").sum(), eligible=pl.col("amount").filter(pl.col("covered")).sum())
    return claims.join(covered, on="spec", how="left", maintain_order="left").with_columns(
        pl.col("total").fill_null(0), pl.col("eligible").fill_null(0))


def label_cap_breaches(world: World, people: People, claims: pl.DataFrame, members: list) -> People:
    """The members whose year was paid past the cap, with what they were paid."""
    paid = (claims.filter(pl.col("m").is_in(members) & (pl.col("pay") == "no_cap"))
            .group_by("m", "year").agg(pl.col("comp").sum(), pl.col("annual_cap").first())
            .filter(pl.col("comp") > pl.col("annual_cap"))
            .with_columns(_detail="compensated " + money(pl.col("comp")) + " in " + pl.col("year").cast(pl.String)
                          + ", above the annual cap " + money(pl.col("annual_cap")))
            .select("m", "_detail"))
    merged = people.members.join(paid, on="m", how="left", maintain_order="left").with_columns(
        family=pl.when(pl.col("_detail").is_not_null()).then(pl.lit("cap_breach")).otherwise(pl.col("family")),
        detail=pl.coalesce("_detail", "detail")).drop("_detail")
    return People(merged, people.enrolments)

