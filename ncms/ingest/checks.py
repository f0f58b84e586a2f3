"""Checks that need more than one row: duplicate keys in a file, references, item totals.

Each check marks the offending staged rows with an error code (and a detail); marked rows
are not loaded and go back to the county on the receipt. They run in dependency order,
so a claim refused for any reason takes its items with it.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ncms.exchange.schemas import RECORD_SCHEMAS
from ncms.models import Claim, Institution, Member

from .staging import DETAIL, ERROR

WITHIN_ONE_FEN = 0.015  # one fen is allowed; the extra half fen absorbs float noise on SQLite


def run_checks(conn: Connection, tables: dict[str, sa.Table], county_code: str) -> None:
    for record_type, table in tables.items():
        mark_duplicates(conn, table, RECORD_SCHEMAS[record_type].key)
    member, enrolment, claim, item = (tables[k] for k in ("member", "enrolment", "claim", "claim_item"))

    known_member = sa.or_(
        sa.exists().where(member.c.member_no == enrolment.c.member_no, member.c[ERROR].is_(None)),
        sa.exists().where(Member.county_code == county_code, Member.member_no == enrolment.c.member_no),
    )
    _mark(conn, enrolment, ~known_member, "unknown_member")

    registered = sa.exists().where(Institution.code == claim.c.institution_code)
    _mark(conn, claim, ~registered, "unknown_institution")
    mark_item_totals(conn, claim, item)

    _mark(conn, item, sa.exists().where(claim.c.claim_id == item.c.claim_id, claim.c[ERROR].is_not(None)),
          "claim_rejected")
    loaded_claim = sa.exists().where(Claim.county_code == county_code, Claim.source_id == item.c.claim_id)
    in_package = sa.exists().where(claim.c.claim_id == item.c.claim_id)
    _mark(conn, item, ~in_package & ~loaded_claim, "unknown_claim")


def mark_duplicates(conn: Connection, table: sa.Table, key: tuple[str, ...]) -> None:
    """Every copy of a key that appears twice is refused: the county must say which is right."""
    cols = [table.c[k] for k in key]
    dupes = (
        sa.select(*cols, sa.func.count().label("n"), sa.func.min(table.c._line).label("first"),
                  sa.func.max(table.c._line).label("last"))
        .group_by(*cols).having(sa.func.count() > 1).subquery()
    )
    match = sa.and_(*(dupes.c[k] == table.c[k] for k in key))
    detail = sa.select(
        sa.literal("×") + sa.cast(dupes.c.n, sa.String) + sa.literal(", lines ")
        + sa.cast(dupes.c.first, sa.String) + sa.literal("…") + sa.cast(dupes.c.last, sa.String)
    ).where(match).scalar_subquery()
    conn.execute(
        table.update().where(table.c[ERROR].is_(None), sa.exists().where(match))
        .values({ERROR: "duplicate_key", DETAIL: detail})
    )


def mark_item_totals(conn: Connection, claim: sa.Table, item: sa.Table) -> None:
    """A claim sent with items must add up to its total, within one fen."""
    total = sa.cast(claim.c.total_amount, sa.Numeric(14, 2))
    items_sum = (
        sa.select(sa.func.sum(sa.cast(item.c.amount, sa.Numeric(14, 2))))
        .where(item.c.claim_id == claim.c.claim_id, item.c[ERROR].is_(None))
        .scalar_subquery()
    )
    has_items = sa.exists().where(item.c.claim_id == claim.c.claim_id)
    off = sa.func.abs(sa.func.coalesce(items_sum, 0) - total) > WITHIN_ONE_FEN
    detail = (sa.literal("items ") + sa.cast(sa.func.coalesce(items_sum, 0), sa.String)
              + sa.literal(", total_amount ") + claim.c.total_amount)
    conn.execute(claim.update().where(claim.c[ERROR].is_(None), has_items, off)
                 .values({ERROR: "items_sum", DETAIL: detail}))


def _mark(conn: Connection, table: sa.Table, condition: sa.ColumnElement[bool], code: str) -> None:
    conn.execute(table.update().where(table.c[ERROR].is_(None), condition).values({ERROR: code}))
