"""Staging tables: where a batch's screened rows wait for the set-based checks and the upsert.

Temporary tables of text columns, one per record type, private to the loading connection.
Claim items are not staged row by row (``ncms.ingest.items``): their table,
``stage_item_claims``, holds a row per claim with its item total. Appending a frame to a
table is the one place with a dialect fast path: PostgreSQL takes a chunk as one ``COPY``,
other databases a batched ``executemany``.
"""
from __future__ import annotations

import io
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ncms.exchange.schemas import RECORD_SCHEMAS
from ncms.exchange.screen import LINE, SOURCE_KEY

ERROR, DETAIL = "_error", "_detail"
FILE_NO = "_file_no"  # which of the package's files a staged row came from (its index)
WORK_MEM = "256MB"
MAX_PARAMETERS = 999  # the fewest bound values a statement may have, in any SQLite build
# columns the checks and the upsert join on, besides each record type's key: the only
# ones worth statistics
JOINED = {"member": ("household_no",), "enrolment": ("member_no",), "claim": ("institution_code",)}
ITEM_CLAIMS = "item_claims"  # the key, among the staging tables, of the per-claim item totals
STAGED = tuple(record_type for record_type in RECORD_SCHEMAS if record_type != "claim_item")
KEYS = {**{record_type: RECORD_SCHEMAS[record_type].key for record_type in STAGED}, ITEM_CLAIMS: ("claim_id",)}


def staging_table(record_type: str, metadata: sa.MetaData) -> sa.Table:
    fields = list(RECORD_SCHEMAS[record_type].specs())
    return sa.Table(
        f"stage_{record_type}", metadata,
        sa.Column(FILE_NO, sa.SmallInteger),
        sa.Column(LINE, sa.Integer),
        *(sa.Column(name, sa.Text) for name in fields),
        sa.Column(SOURCE_KEY, sa.Text),  # an extract's: the row's key in the county database
        sa.Column(ERROR, sa.String(32)),
        sa.Column(DETAIL, sa.Text),
        prefixes=["TEMPORARY"],
    )


def item_claims_table(metadata: sa.MetaData) -> sa.Table:
    """A row per claim that came with items: whether the claim came in the same package, and
    why the lines do not add up to its total (null when they do). Nothing more: its rows are
    as many as the claims'."""
    return sa.Table(
        "stage_item_claims", metadata,
        sa.Column("claim_id", sa.Text), sa.Column("in_package", sa.Boolean), sa.Column("mismatch", sa.Text),
        sa.Column(ERROR, sa.String(32)),
        prefixes=["TEMPORARY"],
    )


def create_staging(conn: Connection) -> dict[str, sa.Table]:
    if conn.dialect.name == "postgresql":
        # the checks hash-join and aggregate whole batches: let them do it in memory
        conn.execute(sa.text(f"SET LOCAL work_mem = '{WORK_MEM}'"))
        # a batch's statements are few, large and simple: compiling them costs up to 0.35 s
        # each and saved nothing measurable
        conn.execute(sa.text("SET LOCAL jit = off"))
        # the staged tables' statistics serve to size hash joins, not to pick among indexes:
        # a 3,000-row sample does it (the default 30,000 took 0.66 of 8.4 s database CPU)
        conn.execute(sa.text("SET LOCAL default_statistics_target = 10"))
    metadata = sa.MetaData()
    tables = {rt: staging_table(rt, metadata) for rt in STAGED}
    tables[ITEM_CLAIMS] = item_claims_table(metadata)
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
    for name, table in tables.items():
        key = KEYS[name]
        if conn.dialect.name == "postgresql":
            columns = dict.fromkeys((*key, *JOINED.get(name, ()), ERROR))
            conn.execute(sa.text(f"ANALYZE {table.name} ({', '.join(columns)})"))
        else:
            conn.execute(sa.text(f"CREATE INDEX ix_{table.name}_key ON {table.name} ({', '.join(key)})"))


def append(conn: Connection, table: sa.Table, frame: pl.DataFrame) -> None:
    """Append a frame's rows to a table, by column name (columns the table lacks are left
    out): screened rows to a staging table, claim items to ``claim_item`` or, on SQLite,
    to its buffer."""
    if frame.is_empty():
        return
    columns = [c.name for c in table.columns if c.name in frame.columns]
    frame = frame.select(columns)
    if conn.dialect.name == "postgresql":
        _copy(conn, table.name, frame)
    else:
        _insert_rows(conn, table.name, frame)


def _copy(conn: Connection, name: str, frame: pl.DataFrame) -> None:
    buffer = io.BytesIO()
    frame.write_csv(buffer, include_header=False, null_value="")
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        with cursor.copy(f"COPY {name} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(buffer.getbuffer())
    finally:
        cursor.close()


def _insert_rows(conn: Connection, name: str, frame: pl.DataFrame) -> None:
    """An ``executemany`` of ``INSERT … VALUES`` statements of many rows each, their values
    laid out from whole columns. A statement a row cost a third more (claim items, 755,830
    rows: 2.2-2.5 s against 1.5-1.9 s, with the values made into tuples a row by
    ``DataFrame.rows``)."""
    width = frame.width
    values: list[Any] = [None] * (frame.height * width)
    for i, column in enumerate(frame.iter_columns()):
        values[i::width] = column.to_list()
    per_statement = max(1, MAX_PARAMETERS // width)
    row = f"({', '.join('?' * width)})"
    head = f"INSERT INTO {name} ({', '.join(frame.columns)}) VALUES "
    step = per_statement * width
    whole = len(values) - len(values) % step
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if whole:
            cursor.executemany(head + ", ".join([row] * per_statement),
                               (values[start:start + step] for start in range(0, whole, step)))
        if whole < len(values):
            cursor.execute(head + ", ".join([row] * ((len(values) - whole) // width)), values[whole:])
    finally:
        cursor.close()


def drop_staging(conn: Connection, tables: dict[str, sa.Table]) -> None:
    for table in tables.values():
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {table.name}"))


def read_frame(conn: Connection, select: sa.Select, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """A query's rows as a frame with the given column types (by position), read past
    SQLAlchemy's row objects, which took most of the time (300,000 rows, SQLite: 0.77 s
    through them, 0.24 s as the driver's tuples). PostgreSQL sends each column as one array
    (``array_agg`` over the same rows keeps them aligned): 0.07 s in the database, 1.1 s
    through SQLAlchemy rows, 0.75 s through ``COPY … TO STDOUT``, which yields a message a
    row."""
    postgresql = conn.dialect.name == "postgresql"
    if postgresql:
        query = select.subquery("q")
        select = sa.select(*(sa.func.array_agg(column) for column in query.c))
    sql = str(select.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if not postgresql:
            return pl.DataFrame(cursor.execute(sql).fetchall(), schema=schema, orient="row")
        columns = cursor.execute(sql).fetchone()
    finally:
        cursor.close()
    return pl.DataFrame({name: values or [] for name, values in zip(schema, columns, strict=True)}, schema=schema)
