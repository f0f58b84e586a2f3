"""Checks that need more than one row: duplicate keys in a file, references, item totals.

Each check marks the offending staged rows with an error code (and a detail); marked rows
are not loaded and go back to the county on the receipt. They run in dependency order,
so a claim refused for any reason takes its items with it. Items are checked a claim at
a time, on their per-claim totals (``ncms.ingest.items``); duplicate item lines are
found before, in the spool.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ncms.exchange.schemas import RECORD_SCHEMAS
from ncms.models import Claim, Institution, Member

from .staging import DETAIL, ERROR, ITEM_CLAIMS, STAGED


def run_checks(conn: Connection, tables: dict[str, sa.Table], county_code: str,
               may_repeat: set[str] | None = None) -> None:
    """``may_repeat``: the record types in which a key may appear twice (default: all)."""
    for record_type in STAGED:
        if may_repeat is None or record_type in may_repeat:
            mark_duplicates(conn, tables[record_type], RECORD_SCHEMAS[record_type].key)
    member, enrolment, claim, items = (tables[k] for k in ("member", "enrolment", "claim", ITEM_CLAIMS))

    known_member = sa.or_(
        sa.exists().where(member.c.member_no == enrolment.c.member_no, member.c[ERROR].is_(None)),
        sa.exists().where(Member.county_code == county_code, Member.member_no == enrolment.c.member_no),
    )
    _mark(conn, enrolment, ~known_member, "unknown_member")
    _mark(conn, claim, ~sa.exists().where(Institution.code == claim.c.institution_code), "unknown_institution")
    mark_item_totals(conn, claim, items)

    loaded = sa.exists().where(Claim.county_code == county_code, Claim.source_id == items.c.claim_id)
    _mark(conn, items, ~items.c.in_package & ~loaded, "unknown_claim")
    if conn.scalar(sa.select(sa.exists().where(claim.c[ERROR].is_not(None)))):
        conn.execute(items.update()
                     .where(items.c[ERROR].is_(None), claim.c.claim_id == items.c.claim_id, claim.c[ERROR].is_not(None))
                     .values({ERROR: "claim_rejected"}))


def mark_duplicates(conn: Connection, table: sa.Table, key: tuple[str, ...]) -> None:
    """Every copy of a key that appears twice is refused: the county must say which is right."""
    cols = [table.c[k] for k in key]
    any_twice = sa.select(*cols).group_by(*cols).having(sa.func.count() > 1).limit(1)
    if conn.execute(any_twice).first() is None:  # the usual case: nothing to mark
        return
    dupes = (
        sa.select(*cols, sa.func.count().label("n"), sa.func.min(table.c._line).label("first"),
                  sa.func.max(table.c._line).label("last"))
        .group_by(*cols).having(sa.func.count() > 1).subquery()
    )
    match = sa.and_(*(dupes.c[k] == table.c[k] for k in key))
    detail = sa.select(  # "copies,first line,last line": said in words by the receipt (messages.DETAILS)
        sa.cast(dupes.c.n, sa.String) + sa.literal(",")
        + sa.cast(dupes.c.first, sa.String) + sa.literal(",") + sa.cast(dupes.c.last, sa.String)
    ).where(match).scalar_subquery()
    conn.execute(
        table.update().where(table.c[ERROR].is_(None), sa.exists().where(match))
        .values({ERROR: "duplicate_key", DETAIL: detail})
    )


def mark_item_totals(conn: Connection, claim: sa.Table, items: sa.Table) -> None:
    """A claim sent with items must add up to its total, within one fen, counting only the
    lines that passed: ``items`` says which claims do not (``ncms.ingest.items.claim_totals``)."""
    if conn.scalar(sa.select(sa.exists().where(items.c.mismatch.is_not(None)))):
        conn.execute(claim.update()
                     .where(claim.c[ERROR].is_(None), items.c.claim_id == claim.c.claim_id,
                            items.c.mismatch.is_not(None))
                     .values({ERROR: "items_sum", DETAIL: items.c.mismatch}))


def _mark(conn: Connection, table: sa.Table, condition: sa.ColumnElement[bool], code: str) -> None:
    conn.execute(table.update().where(table.c[ERROR].is_(None), condition).values({ERROR: code}))
