"""A county's first people and claims, on PostgreSQL: checked in spools, copied straight in.

Staged, every member, enrolment and claim was written twice (``COPY`` into its staging
table, then the upsert's ``INSERT … SELECT``, joined and cast row by row) and read in
between. When the county has no member yet (its first package, or its first with
people), or no claim yet, every key of that kind is new and nothing is to be updated; the
county lock keeps it so until the batch commits. Then the checks those rows need run on
the spooled chunks (``ItemSpool``, as the items'), in the order and with the details of
``ncms.ingest.checks``: a key sent twice, an enrolment of a member the package does not
hold (the county has none loaded), a claim of an unknown institution or whose items do
not add up to its total.

- The refused rows go to their staging table, marked (``_error``, ``_detail``), before the
  set-based checks run: the receipt, and the refusal of a refused claim's items
  (``claim_rejected``), read them there as before, and the upsert finds nothing to load.
- The others go in by ``COPY`` where the upsert would have inserted them: households (one
  per household number, as ``upsert.households`` groups them), members with their
  household's id and the sex and birth date their national ID gives, enrolments with
  their member's id, claims with their institution's id. The ids are read back a column
  at a time (``staging.read_frame``). PostgreSQL converts the text as the casts did
  (dates, ``NUMERIC(14,2)``) and checks the tables' constraints as it copies.

SQLite keeps the staged path: it has no ``COPY`` to gain by, and its upsert is one
statement. Later packages take the staged path: their keys may be known. Measured in
docs/ingestion.md ("Performance").
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ncms.exchange.schemas import RECORD_SCHEMAS
from ncms.exchange.screen import LINE
from ncms.models import Claim, Enrolment, Household, Institution, Member

from .items import FILE, ItemSpool, duplicate_keys
from .staging import DETAIL, ERROR, append, read_frame

PEOPLE = ("member", "enrolment")
CLAIM_COLUMNS = {"claim_id": "source_id", "kind": "kind", "member_no": "member_no", "national_id": "national_id",
                 "admission_date": "admission_date", "discharge_date": "discharge_date",
                 "settlement_date": "settlement_date", "diagnosis_code": "diagnosis_code",
                 "total_amount": "total_amount", "eligible_amount": "eligible_amount",
                 "compensated_amount": "compensated_amount"}  # staged name: claim's column
TWICE = "_twice"  # a duplicate key's detail, before it becomes ``_detail``


def record_types(conn: Connection, county: str) -> set[str]:
    """The record types of this batch that take the direct path: on PostgreSQL, the people
    when the county has no household or member yet, the claims when it has no claim (index
    probes), under the county lock."""
    if conn.dialect.name != "postgresql":
        return set()
    def empty(table: sa.Table) -> bool:
        return not conn.scalar(sa.select(sa.exists().where(table.c.county_code == county)))
    people = empty(Household.__table__) and empty(Member.__table__)
    return {*(PEOPLE if people else ()), *(("claim",) if empty(Claim.__table__) else ())}


class Spools:
    """The good rows of the direct record types, a spool each, read back a chunk at a time."""

    def __init__(self, directory: Path, types: set[str]) -> None:
        self.types = types
        self.spools: dict[str, ItemSpool] = {}
        for record_type in types:
            (directory / record_type).mkdir()
            self.spools[record_type] = ItemSpool(directory / record_type)

    def __contains__(self, record_type: str) -> bool:
        return record_type in self.types

    def add(self, record_type: str, frame: pl.DataFrame, file: str) -> None:
        self.spools[record_type].add(frame, file)

    def checked(self, conn: Connection, totals: pl.DataFrame, may_repeat: set[str]) -> dict[str, "_Checked"]:
        """Each direct type's chunks with ``_error`` and ``_detail`` as ``ncms.ingest.checks``
        marks them (re-read on each pass: chunks come back from the page cache)."""
        checked: dict[str, _Checked] = {}
        if "member" in self.types:
            members = self.spools["member"]
            member_twice = _duplicates(members, "member") if "member" in may_repeat else None
            checked["member"] = _Checked(members, lambda chunk: _mark(chunk, member_twice, "member"))
            known = (members.scan("member_no", LINE).join(member_twice.lazy(), on="member_no", how="anti")
                     if member_twice is not None else members.scan("member_no"))
            known_members = known.select("member_no").unique().collect()["member_no"]
            enrolment_twice = _duplicates(self.spools["enrolment"], "enrolment") if "enrolment" in may_repeat else None
            checked["enrolment"] = _Checked(self.spools["enrolment"], lambda chunk: _mark(
                chunk, enrolment_twice, "enrolment").with_columns(
                    pl.when(pl.col(ERROR).is_null() & ~pl.col("member_no").is_in(known_members.implode()))
                    .then(pl.lit("unknown_member")).otherwise(pl.col(ERROR)).alias(ERROR)))
        if "claim" in self.types:
            institutions = pl.DataFrame(conn.execute(sa.select(Institution.code, Institution.id)).all(),
                                        schema={"institution_code": pl.String, "institution_id": pl.Int64},
                                        orient="row")
            mismatched = totals.filter(pl.col("mismatch").is_not_null()).select("claim_id", "mismatch")
            claim_twice = _duplicates(self.spools["claim"], "claim") if "claim" in may_repeat else None

            def claims(chunk: pl.DataFrame) -> pl.DataFrame:
                # checks.run_checks' order: a duplicate key, then the institution, then the items
                marked = (_mark(chunk, claim_twice, "claim")
                          .join(institutions, on="institution_code", how="left", maintain_order="left")
                          .join(mismatched, on="claim_id", how="left", maintain_order="left"))
                return marked.with_columns(
                    pl.when(pl.col(ERROR).is_not_null()).then(pl.col(ERROR))
                    .when(pl.col("institution_id").is_null()).then(pl.lit("unknown_institution"))
                    .when(pl.col("mismatch").is_not_null()).then(pl.lit("items_sum")).alias(ERROR),
                    pl.when(pl.col(ERROR).is_not_null()).then(pl.col(DETAIL))
                    .when(pl.col("institution_id").is_null()).then(pl.lit(None, pl.String))
                    .otherwise(pl.col("mismatch")).alias(DETAIL)).drop("mismatch")
            checked["claim"] = _Checked(self.spools["claim"], claims)
        return checked


class _Checked:
    """A spool and the marking of its chunks."""

    def __init__(self, spool: ItemSpool, mark) -> None:  # noqa: ANN001 - chunk -> chunk
        self.spool, self.mark = spool, mark

    def chunks(self) -> Iterator[pl.DataFrame]:
        for chunk in self.spool.chunks():
            yield self.mark(chunk.drop(FILE))


def stage_refused(conn: Connection, tables: dict[str, sa.Table], checked: dict[str, _Checked]) -> pl.Series:
    """The refused rows into their staging tables, marked: the receipt and the claims'
    items read them there. Returns the refused claims' ids."""
    refused = [pl.Series("claim_id", [], pl.String)]
    for record_type, rows in checked.items():
        for chunk in rows.chunks():
            marked = chunk.filter(pl.col(ERROR).is_not_null())
            append(conn, tables[record_type], marked)
            if record_type == "claim":
                refused.append(marked["claim_id"])
    return pl.concat(refused).unique()


def item_claims(totals: pl.DataFrame, refused: pl.Series) -> pl.DataFrame:
    """The per-claim item totals (``items.claim_totals``) of a batch whose claims take the
    direct path, with ``checks.run_checks``' verdicts on the claims' items: a claim neither
    in the package nor loaded (the county has none) is unknown, one refused takes its
    items with it. Only the marked rows need staging then."""
    unknown = ~pl.col("in_package")
    return (totals.with_columns(
        pl.when(pl.col(ERROR).is_not_null()).then(pl.col(ERROR))
        .when(unknown).then(pl.lit("unknown_claim"))
        .when(pl.col("claim_id").is_in(refused.implode())).then(pl.lit("claim_rejected")).alias(ERROR))
        .filter(pl.col(ERROR).is_not_null()))


def load(conn: Connection, checked: dict[str, _Checked], county: str, batch_id: int, now: datetime) -> None:
    """The rows that passed into households, members, enrolments and claims, a ``COPY`` a
    chunk (households: one), in the upsert's order."""
    stamps = [pl.lit(batch_id, pl.Int64).alias("batch_id"), pl.lit(now.isoformat()).alias("created_at"),
              pl.lit(now.isoformat()).alias("updated_at")]
    county_code = pl.lit(county).alias("county_code")
    if "member" in checked:
        members = [chunk.filter(pl.col(ERROR).is_null()) for chunk in checked["member"].chunks()]
        _households(conn, pl.concat(members) if members else None, county_code, stamps)
        households = read_frame(conn, sa.select(Household.household_no, Household.id)
                                .where(Household.county_code == county),
                                {"household_no": pl.String, "household_id": pl.Int64})
        nid = pl.col("national_id")
        for chunk in members:
            append(conn, Member.__table__, chunk.join(households, on="household_no", maintain_order="left").select(
                county_code, "member_no", "household_id", "national_id", "name",
                pl.when(nid.str.slice(16, 1).cast(pl.Int32) % 2 == 1).then(pl.lit("M")).otherwise(pl.lit("F"))
                .alias("sex"),
                pl.concat_str(nid.str.slice(6, 4), nid.str.slice(10, 2), nid.str.slice(12, 2), separator="-")
                .alias("birth_date"),
                "death_date", *stamps))
        del members
        ids = read_frame(conn, sa.select(Member.member_no, Member.id).where(Member.county_code == county),
                         {"member_no": pl.String, "member_id": pl.Int64})
        for chunk in checked["enrolment"].chunks():
            append(conn, Enrolment.__table__, chunk.filter(pl.col(ERROR).is_null())
                   .join(ids, on="member_no", maintain_order="left")
                   .select("member_id", county_code, "member_no", "year", "contribution", "enrolled_on", *stamps))
    if "claim" in checked:
        flags = [(pl.col(flag).fill_null("0") == "1").alias(flag) for flag in ("referral", "voided")]
        for chunk in checked["claim"].chunks():
            append(conn, Claim.__table__, chunk.filter(pl.col(ERROR).is_null()).select(
                county_code, *(pl.col(s).alias(c) for s, c in CLAIM_COLUMNS.items()), "institution_id", *flags,
                *stamps))


def _households(conn: Connection, members: pl.DataFrame | None, county_code: pl.Expr, stamps: list[pl.Expr]) -> None:
    """A household per household number of the members that passed, as ``upsert.households``
    makes them (the largest township and village named, the head's name)."""
    if members is None or members.is_empty():
        return
    head = pl.when(pl.col("relation") == "head").then(pl.col("name"))
    append(conn, Household.__table__, members.group_by("household_no", maintain_order=True).agg(
        pl.col("township").max(), pl.col("village").max(), head.max().alias("head_name"))
        .select(county_code, "household_no", "township", "village", "head_name", *stamps))


def _duplicates(spool: ItemSpool, record_type: str) -> pl.DataFrame:
    """Every key of ``record_type`` sent more than once, with its detail (as ``TWICE``)."""
    return duplicate_keys(spool, list(RECORD_SCHEMAS[record_type].key)).rename({DETAIL: TWICE})


def _mark(chunk: pl.DataFrame, twice: pl.DataFrame | None, record_type: str) -> pl.DataFrame:
    """``chunk`` with ``_error`` and ``_detail``: ``duplicate_key`` on every copy of a key in
    ``twice``, else nothing yet."""
    if twice is None or twice.is_empty():
        return chunk.with_columns(pl.lit(None, pl.String).alias(ERROR), pl.lit(None, pl.String).alias(DETAIL))
    marked = chunk.join(twice, on=list(RECORD_SCHEMAS[record_type].key), how="left", maintain_order="left")
    return marked.with_columns(pl.when(pl.col(TWICE).is_not_null()).then(pl.lit("duplicate_key")).alias(ERROR),
                               pl.col(TWICE).alias(DETAIL)).drop(TWICE)
