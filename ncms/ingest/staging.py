"""Staging tables: where a batch's screened rows wait for the set-based checks and the upsert.

Temporary tables of text columns, one per record type, private to the loading connection.
Filling them is the one place with a dialect fast path: PostgreSQL takes a chunk as one
``COPY``, other databases a batched ``executemany``.
"""
from __future__ import annotations

import io

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ncms.exchange.schemas import RECORD_SCHEMAS
from ncms.exchange.screen import LINE

ERROR, DETAIL = "_error", "_detail"
WORK_MEM = "256MB"
# columns the checks and the upsert join on, besides each record type's key: the only
# ones worth statistics
JOINED = {"member": ("household_no",), "enrolment": ("member_no",), "claim": ("institution_code",),
          "claim_item": ("item_code",)}


def staging_table(record_type: str, metadata: sa.MetaData) -> sa.Table:
    fields = list(RECORD_SCHEMAS[record_type].specs())
    return sa.Table(
        f"stage_{record_type}", metadata,
        sa.Column(LINE, sa.Integer),
        *(sa.Column(name, sa.Text) for name in fields),
        sa.Column(ERROR, sa.String(32)),
        sa.Column(DETAIL, sa.Text),
        prefixes=["TEMPORARY"],
    )


def create_staging(conn: Connection) -> dict[str, sa.Table]:
    if conn.dialect.name == "postgresql":
        # the checks hash-join and aggregate whole batches: let them do it in memory
        conn.execute(sa.text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        # a batch's statements are few, large and simple: compiling them costs up to 0.35 s
        # each and saved nothing measurable
        conn.execute(sa.text("SET LOCAL jit = off"))
    metadata = sa.MetaData()
    tables = {rt: staging_table(rt, metadata) for rt in RECORD_SCHEMAS}
    for table in tables.values():
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table.name}"))
    metadata.create_all(conn)
    return tables


def index_staging(conn: Connection, tables: dict[str, sa.Table]) -> None:
    """Prepare the filled tables for the checks' joins.

    PostgreSQL gets statistics on the joined columns (it never analyses temporary tables by
    itself; all columns took five times as long) and then hash-joins without any index;
    SQLite joins by nested loops, so it gets the key index, built once the rows are in
    rather than row by row.
    """
    for record_type, table in tables.items():
        if conn.dialect.name == "postgresql":
            columns = dict.fromkeys((*RECORD_SCHEMAS[record_type].key, *JOINED.get(record_type, ()), ERROR))
            conn.execute(sa.text(f"ANALYZE {table.name} ({', '.join(columns)})"))
        else:
            key = RECORD_SCHEMAS[record_type].key
            conn.execute(sa.text(f"CREATE INDEX ix_{table.name}_key ON {table.name} ({', '.join(key)})"))


def stage(conn: Connection, table: sa.Table, frame: pl.DataFrame) -> None:
    """Append screened rows (string columns plus ``_line``) to a staging table."""
    if frame.is_empty():
        return
    columns = [c.name for c in table.columns if c.name in frame.columns]
    frame = frame.select(columns)
    if conn.dialect.name == "postgresql":
        _copy(conn, table.name, frame)
    else:
        placeholders = ", ".join("?" for _ in columns)
        conn.exec_driver_sql(
            f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})",
            frame.rows(),
        )


def _copy(conn: Connection, name: str, frame: pl.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, null_value="")
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        with cursor.copy(f"COPY {name} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(buffer.getbuffer())
    finally:
        cursor.close()


def drop_staging(conn: Connection, tables: dict[str, sa.Table]) -> None:
    for table in tables.values():
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table.name}"))
