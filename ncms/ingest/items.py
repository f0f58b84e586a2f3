"""Claim items: half the rows of a package, and the one record type nothing refers to.

They do not go through a staging table. Screened chunks are spooled to Arrow files in the
batch's work directory; the checks that need more than one item row run on the spool
(duplicate keys, each claim's item total), and what the database must answer (is the
claim in the package, already loaded, refused?) is asked of one small staging table with
a row per claim (``stage_item_claims``), which also says which claims' lines do not add
up. Once the claims are loaded, the spool is copied into ``claim_item`` with the claims'
ids joined on: the rows are written once, not staged, read back and written again.
PostgreSQL, 300,000 claims (1,445,537 rows), one loader, two runs each: database CPU
11.3-13.3 s before, 9.2-10.2 s after; end to end 16.8-19.0 s before, 15.0-16.4 s after.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ncms.exchange.schemas import RECORD_SCHEMAS
from ncms.exchange.screen import LINE
from ncms.models import CatalogueItem, Claim, ClaimItem

from .staging import DETAIL, ERROR, append, read_frame

KEY = list(RECORD_SCHEMAS["claim_item"].key)
FILE = "_file"
MONEY = pl.Decimal(38, 2)
ONE_FEN = Decimal("0.01")


class ItemSpool:
    """The batch's screened item rows, one Arrow file a chunk, read back one chunk at a time."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.parts: list[tuple[Path, str]] = []

    def add(self, frame: pl.DataFrame, file: str) -> None:
        if frame.is_empty():
            return
        path = self.directory / f"items-{len(self.parts):05d}.arrow"
        frame.write_ipc(path)  # uncompressed: read back twice, soon, from the page cache
        self.parts.append((path, file))

    def scan(self, *columns: str) -> pl.LazyFrame:
        """Every spooled row (the given columns plus ``_file``), lazily."""
        if not self.parts:
            schema = {c: pl.Int64 if c == LINE else pl.String for c in columns}
            return pl.LazyFrame(schema={**schema, FILE: pl.String})
        return pl.concat([pl.scan_ipc(path).select(columns).with_columns(pl.lit(name).alias(FILE))
                          for path, name in self.parts])

    def chunks(self) -> Iterator[pl.DataFrame]:
        for path, name in self.parts:
            yield pl.read_ipc(path).with_columns(pl.lit(name).alias(FILE))


def duplicate_lines(spool: ItemSpool, may_repeat: bool = True) -> pl.DataFrame:
    """Every copy of a key that appears twice (``_file``, ``_line``, ``_detail``): the
    county must say which is right. ``may_repeat=False``: the keys' hashes were all
    distinct, so no key repeats and nothing is read."""
    rows = spool.scan(*KEY, LINE)
    if not may_repeat:
        return rows.select(FILE, LINE, pl.lit(None, pl.String).alias(DETAIL)).head(0).collect()
    return rows.join(duplicate_keys(spool, KEY).lazy(), on=KEY).select(FILE, LINE, DETAIL).collect()


def duplicate_keys(spool: ItemSpool, key: list[str]) -> pl.DataFrame:
    """Every key the spool holds more than once, with ``checks.mark_duplicates``' detail
    (``_detail``: copies, first line, last line, as messages.DETAILS reads it)."""
    return (spool.scan(*key, LINE).group_by(key)
            .agg(pl.len().alias("n"), pl.col(LINE).min().alias("first"), pl.col(LINE).max().alias("last"))
            .filter(pl.col("n") > 1)
            .select(*key, pl.format("{},{},{}", "n", "first", "last").alias(DETAIL))
            .collect())


def claim_totals(spool: ItemSpool, duplicates: pl.DataFrame, claims: pl.DataFrame,
                 screened_out: Iterable[str] = ()) -> pl.DataFrame:
    """One row per claim with items: whether the claim is in the package (``claims``: its
    ``claim_id`` and ``total_amount``), and why the lines of it that passed do not add up to
    its total within one fen (``mismatch``: their sum, exact, and the total; null when they
    do): a claim with a refused line cannot be loaded without it.
    A claim the screen refused (``screened_out``, and not staged from another row) marks its
    lines ``claim_rejected`` (``_error``): it was in the package, it is not unknown."""
    lines = spool.scan("claim_id", "amount", LINE).join(duplicates.lazy().select(FILE, LINE), on=[FILE, LINE],
                                                        how="anti")
    sums = (lines.group_by("claim_id")
            .agg(pl.col("amount").cast(MONEY).sum().cast(pl.String))
            .collect(engine="streaming"))
    off = (pl.col("amount").cast(MONEY) - pl.col("total_amount").cast(MONEY)).abs() > ONE_FEN
    refused = pl.Series("claim_id", sorted(set(screened_out)), dtype=pl.String)
    in_package = pl.col("total_amount").is_not_null()
    return (sums.join(claims.unique("claim_id"), on="claim_id", how="left")
            .with_columns(in_package.alias("in_package"),
                          pl.when(off).then(pl.format("{},{}", "amount", "total_amount"))
                          .alias("mismatch"),
                          pl.when(~in_package & pl.col("claim_id").is_in(refused.implode()))
                          .then(pl.lit("claim_rejected")).alias(ERROR))
            .drop("amount", "total_amount"))


def stage_claims(conn: Connection, table: sa.Table, totals: pl.DataFrame, chunk_rows: int = 200_000) -> None:
    for start in range(0, totals.height, chunk_rows):
        append(conn, table, totals.slice(start, chunk_rows))


def refused_by_claim(conn: Connection, table: sa.Table) -> pl.DataFrame:
    """The claims whose every line is refused (``claim_id``, ``_error``): few or none."""
    rows = conn.execute(sa.select(table.c.claim_id, table.c[ERROR]).where(table.c[ERROR].is_not(None))).all()
    return pl.DataFrame(rows, schema={"claim_id": pl.String, ERROR: pl.String}, orient="row")


def refused_rows(spool: ItemSpool, duplicates: pl.DataFrame, by_claim: pl.DataFrame) -> Iterator[dict]:
    """The refused item rows as the county sent them, each with ``_error`` and ``_detail``."""
    if duplicates.is_empty() and by_claim.is_empty():
        return
    dupes = duplicates.with_columns(pl.lit("duplicate_key").alias(ERROR))
    for chunk in spool.chunks():
        marked = chunk.join(dupes, on=[FILE, LINE], how="left").join(
            by_claim.rename({ERROR: "_claim_error"}), on="claim_id", how="left")
        marked = marked.with_columns(pl.coalesce(ERROR, "_claim_error").alias(ERROR)).drop("_claim_error")
        yield from marked.filter(pl.col(ERROR).is_not_null()).iter_rows(named=True)


def drop_resent(conn: Connection, table: sa.Table, county: str) -> None:
    """A claim sent with items has them replaced as a whole (a corrected claim may have fewer
    lines); one sent without items keeps those it has. Run before the claims are loaded, so
    that only claims of earlier batches are looked at."""
    c, ci = Claim.__table__, ClaimItem.__table__
    resent = (sa.select(c.c.id).join(table, sa.and_(c.c.county_code == county, c.c.source_id == table.c.claim_id))
              .where(table.c[ERROR].is_(None)))
    conn.execute(ci.delete().where(ci.c.claim_id.in_(resent)))


def load(conn: Connection, spool: ItemSpool, table: sa.Table, county: str, duplicates: pl.DataFrame,
         refused_claims: pl.DataFrame, every_claim: bool = False) -> None:
    """Add the spooled lines that passed to ``claim_item``, with their claim's id and whether
    the catalogue knows the item code. The claims must be loaded, and the lines of claims
    sent again deleted (``drop_resent``): nothing here can then clash with a row already
    there.

    ``every_claim``: the claims' ids are read for the whole county, not for the claims of
    ``table`` (which then holds only the refused ones, ``ncms.ingest.direct``).

    The claims' ids are read once and joined on here, and the lines go in a chunk at a
    time (``staging.append``: one ``COPY`` on PostgreSQL), in key order. SQLite had taken
    them through a temporary table and one ``INSERT … SELECT`` joined to the claims, since
    an ``executemany`` of a row a statement straight into ``claim_item`` took three times
    as long; with many rows a statement it takes less than the two steps (300,000 claims,
    755,830 lines: CPU 3.1-3.5 s against 3.9-4.1 s, before ``_checked_by_screen``).
    """
    known = pl.Series(conn.execute(sa.select(CatalogueItem.code)).scalars().all(), dtype=pl.String)
    c = Claim.__table__
    if every_claim:  # the county's first claims (``ncms.ingest.direct``): its every claim is this batch's
        select = sa.select(c.c.source_id, c.c.id).where(c.c.county_code == county)
    else:
        select = (sa.select(table.c.claim_id, c.c.id)
                  .join(c, sa.and_(c.c.county_code == county, c.c.source_id == table.c.claim_id)))
    ids = read_frame(conn, select, {"claim_id": pl.String, "_claim_pk": pl.Int64})
    with _checked_by_screen(conn):
        for chunk in spool.chunks():
            append(conn, ClaimItem.__table__, _with_ids(chunk, duplicates, refused_claims, ids, known))


def _with_ids(chunk: pl.DataFrame, duplicates: pl.DataFrame, refused_claims: pl.DataFrame, ids: pl.DataFrame,
              known: pl.Series) -> pl.DataFrame:
    """A spooled chunk's lines that passed, as ``claim_item`` rows."""
    return (chunk.join(duplicates, on=[FILE, LINE], how="anti").join(refused_claims, on="claim_id", how="anti")
            .join(ids, on="claim_id")
            .select(pl.col("_claim_pk").alias("claim_id"), pl.col("line_no").cast(pl.Int64), "item_code",
                    "item_name", "category", "quantity", "unit_price", "amount",
                    (~pl.col("item_code").is_in(known.implode())).alias("unmapped"))
            .sort("claim_id", "line_no"))


@contextmanager
def _checked_by_screen(conn: Connection) -> Iterator[None]:
    """SQLite: leave out ``claim_item``'s CHECK constraints (line number above 0, category
    from its list) while the lines go in: the screen has refused every line that breaks
    them (``line_no`` 1-99999, ``category`` from the same code list), and SQLite evaluates
    them row by row, a quarter of the insert (755,830 lines: CPU 2.3-2.4 s with, 1.6-1.8 s
    without). PostgreSQL checks them as it copies, at no cost worth saving."""
    if conn.dialect.name != "sqlite":
        yield
        return
    conn.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
    try:
        yield
    finally:
        conn.exec_driver_sql("PRAGMA ignore_check_constraints = OFF")
