"""What the province last received of a source row, by key and content hash (``etl_extracted_row``).

Two uses, one mechanism. A stream mapped with ``change: compare`` (a table with no update
time and no growing id) keeps the hash of every row sent: each run reads the whole table and
sends only the rows whose key is new or whose hash changed. A watermark stream keeps the
hashes of its boundary — the rows within ``overlap`` of its watermark — and re-reads that
boundary each run: a row committed late with a watermark value already passed (the same
DATETIME second, a transaction that committed after a later one) is new there and sent; a
row the province already has, unchanged, is not sent twice.

The hash is BLAKE2b (8 bytes) of the translated exchange record, so a changed mapping that
changes what the province would store changes the hash too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from hashlib import blake2b

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from ncms.exchange.fields import DECIMAL, INTEGER, Spec, normalised
from ncms.exchange.schemas import RECORD_SCHEMAS
from ncms.models import ExtractedRow

KEY, HASH, EDGE = "_key", "_hash", "ncms_edge"  # EDGE: the source query's column, 1 on the boundary
SEPARATOR, NULL = "\x1f", "\x00"
KEY_LENGTH = 200  # a longer key (a dirty row) is not remembered: it is sent again each run
DELETE_KEYS = 500  # keys per DELETE … IN


def empty() -> pl.DataFrame:
    return pl.DataFrame(schema={KEY: pl.String, HASH: pl.String})


def row_hashes(frame: pl.DataFrame, record_type: str) -> pl.Series:
    """The hash of each exchange record of ``frame``, over its values as they would be loaded."""
    specs = RECORD_SCHEMAS[record_type].specs()
    text = frame.select(pl.concat_str([_canonical(spec, n).fill_null(NULL) for n, spec in specs.items()],
                                      separator=SEPARATOR))
    return pl.Series(HASH, [blake2b(v.encode(), digest_size=8).hexdigest() for v in text.to_series()],
                     dtype=pl.String)


def _canonical(spec: Spec, column: str) -> pl.Expr:
    """One text per value: a number read from a column of floats in one window ("9548.0") and
    of integers in the next ("9548") is one amount, and a padded code is the code it loads as;
    else an unchanged row at the boundary would be sent again whenever its window's types differ."""
    col = normalised(spec, column)
    if spec.kind in (DECIMAL, INTEGER):
        col = col.str.replace(r"(\.[0-9]*?)0+$", "${1}").str.replace(r"\.$", "")
    return col


def key_expr(record_type: str) -> pl.Expr:
    return pl.concat_str([pl.col(k).fill_null(NULL) for k in RECORD_SCHEMAS[record_type].key],
                         separator=SEPARATOR).alias(KEY)


@dataclass
class Sieve:
    """Leaves out of a window the main rows the province already has unchanged (``seen``), and
    the items of the claims left out; remembers what to keep for next time: every row sent
    (``compare``) or the boundary rows (flagged by the source in column EDGE)."""

    record_type: str
    seen: pl.DataFrame = field(default_factory=empty)
    compare: bool = False
    sent: int = 0
    remembered: list[pl.DataFrame] = field(default_factory=list)
    dropped: list[pl.Series] = field(default_factory=list)

    def main(self, chunk: pl.DataFrame, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` (the translation of source ``chunk``) without the rows already seen."""
        edge = pl.lit(True) if self.compare else chunk[EDGE].cast(pl.String) == "1"
        frame = frame.with_columns(key_expr(self.record_type), edge.alias(EDGE))
        wanted = frame.filter(pl.col(EDGE) | pl.col(KEY).is_in(self.seen[KEY].implode()))
        hashed = wanted.with_columns(row_hashes(wanted, self.record_type))
        unchanged = hashed.join(self.seen, on=[KEY, HASH], how="semi")[KEY]
        kept = frame.filter(~pl.col(KEY).is_in(unchanged.implode()))
        remember = hashed.filter(~pl.col(KEY).is_in(unchanged.implode())) if self.compare else \
            hashed.filter(pl.col(EDGE))
        self.remembered.append(remember.select(KEY, HASH))
        self.dropped.append(unchanged)
        self.sent += kept.height
        return kept.drop(KEY, EDGE)

    def items(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Claim items without those of the claims left out."""
        dropped = pl.concat(self.dropped) if self.dropped else pl.Series(KEY, [], pl.String)
        return frame.filter(~pl.col("claim_id").fill_null(NULL).is_in(dropped.implode())) if dropped.len() else frame

    def memory(self) -> pl.DataFrame:
        """What to remember, each key once (its last row)."""
        rows = pl.concat([empty(), *self.remembered])
        return rows.unique(subset=KEY, keep="last", maintain_order=True).filter(pl.col(KEY).str.len_chars() <= KEY_LENGTH)


def read_extracted(engine: Engine, county: str, stream: str) -> pl.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(ExtractedRow.source_key, ExtractedRow.row_hash)
                            .where(ExtractedRow.county_code == county, ExtractedRow.stream == stream)).all()
    return pl.DataFrame(rows, schema={KEY: pl.String, HASH: pl.String}, orient="row")


def save_extracted(conn: Connection, county: str, stream: str, rows: pl.DataFrame, *, replace: bool) -> None:
    """Remember ``rows``: instead of everything remembered of the stream (``replace``), or of their keys."""
    table = ExtractedRow.__table__
    mine = (table.c.county_code == county) & (table.c.stream == stream)
    if replace:
        conn.execute(table.delete().where(mine))
    else:
        keys = rows[KEY].to_list()
        for start in range(0, len(keys), DELETE_KEYS):
            conn.execute(table.delete().where(mine, table.c.source_key.in_(keys[start:start + DELETE_KEYS])))
    if rows.height:
        conn.execute(table.insert(), [{"county_code": county, "stream": stream, "source_key": k, "row_hash": h}
                                      for k, h in rows.iter_rows()])
