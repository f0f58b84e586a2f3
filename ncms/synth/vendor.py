"""A centralised county's own database, as its vendor's system would keep it.

``write_source_db`` writes one county's synthetic records into the tables its mapping
(``config/mappings/<county>.yaml``) reads, translating each value back into the vendor's
form: codes, date formats, amounts in fen. So the demo, the tests and the ETL benchmark
extract from a schema that is not the exchange format, and a mapping mistake shows up as
refused rows. Tables are created in the database's own types (GBK text on MySQL/MariaDB);
there are no unique keys, since a vendor's data is not always clean.

Watermarks: a ``sequence`` one is the row's number; an update time is, for claims, their
settlement day with a time of day from their order, for the rest the December before the
first year.
"""
from __future__ import annotations

from datetime import date

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ncms.exchange.fields import DATE, DECIMAL, INTEGER
from ncms.exchange.schemas import RECORD_SCHEMAS
from ncms.ingest.mapping import CountyMapping, FieldMapping, RecordMapping

INSERT_ROWS = 20_000


def county_frames(frames: dict[str, pl.DataFrame], county: str) -> dict[str, pl.DataFrame]:
    """One county's records of the synthetic province (``SyntheticProvince.frames``), without
    their ``county_code``."""
    return {k: f.filter(pl.col("county_code") == county).drop("county_code") for k, f in frames.items()
            if "county_code" in f.columns}


def write_source_db(engine: Engine, mapping: CountyMapping, frames: dict[str, pl.DataFrame]) -> dict[str, int]:
    """Create the vendor's tables (dropping old ones) and fill them with the mapping's county's
    records of the synthetic province ``frames``; returns rows written per table."""
    frames = county_frames(frames, mapping.county_code)
    written = {}
    for record_type, record in mapping.records.items():
        if record.table is None:
            raise ValueError(f"{mapping.path}: {record_type} is a query; only tables can be written")
        frame = frames[record_type]
        rows = _vendor_rows(record, frame)
        table = _table(record, engine.dialect.name)
        with engine.begin() as conn:
            table.drop(conn, checkfirst=True)
            table.create(conn)
            insert = _insert_sql(table, engine.dialect)
            for offset in range(0, rows.height, INSERT_ROWS):
                conn.exec_driver_sql(insert, list(rows.slice(offset, INSERT_ROWS).iter_rows()))
        written[record.table] = rows.height
    return written


def _vendor_rows(record: RecordMapping, frame: pl.DataFrame) -> pl.DataFrame:
    columns = {}
    for name, mapped in record.fields.items():
        if mapped.column and mapped.column not in columns:
            columns[mapped.column] = _back(pl.col(name), mapped).alias(mapped.column)
    if record.watermark:
        columns[record.watermark] = _watermark(record, frame).alias(record.watermark)
    return frame.with_row_index("_i").select(list(columns.values()))


def _back(value: pl.Expr, mapped: FieldMapping) -> pl.Expr:
    """An exchange value as the vendor stores it; a value that cannot be turned back is kept."""
    if mapped.fen:
        yuan = value.str.splitn(".", 2).struct
        fen = (yuan.field("field_0").cast(pl.Int64, strict=False) * 100
               + yuan.field("field_1").fill_null("0").str.pad_end(2, "0").cast(pl.Int64, strict=False))
        value = pl.coalesce(fen.cast(pl.String), value)
    if mapped.date:
        value = pl.coalesce(value.str.strptime(pl.Date, "%Y-%m-%d", strict=False).dt.strftime(mapped.date), value)
    if mapped.codes:
        inverse: dict[str, str] = {}
        for vendor, exchange in mapped.codes.items():
            inverse.setdefault(exchange, vendor)
        value = value.replace(inverse)
    return value


def _watermark(record: RecordMapping, frame: pl.DataFrame) -> pl.Expr:
    row = pl.col("_i")
    if record.sequence:
        return (row + 1).cast(pl.String)
    seconds = row % 86400
    clock = pl.format("{}:{}:{}", *(((seconds // d) % m).cast(pl.String).str.zfill(2)
                                    for d, m in ((3600, 24), (60, 60), (1, 60))))
    if record.record_type == "claim":
        day = pl.col("settlement_date")
    else:
        day = pl.lit(date(int(frame["year"].min() or 2011) - 1, 12, 1).isoformat())
    return pl.format("{} {}", day, clock)


def _table(record: RecordMapping, dialect: str) -> sa.Table:
    specs = RECORD_SCHEMAS[record.record_type].specs()
    columns, seen = [], set()
    for name, mapped in record.fields.items():
        if not mapped.column or mapped.column in seen:
            continue
        seen.add(mapped.column)
        spec = specs[name]
        if mapped.fen:
            kind: sa.types.TypeEngine = sa.BigInteger()
        elif spec.kind == DATE and not mapped.date:
            kind = sa.Date()
        elif spec.kind == INTEGER and not mapped.codes:
            kind = sa.Integer()
        elif spec.kind == DECIMAL:
            kind = sa.Numeric(16, spec.scale)
        else:
            kind = sa.String(max(spec.max_length or 0, 40))
        columns.append(sa.Column(mapped.column, kind))
    indexes = []
    if record.watermark:
        kind = sa.BigInteger() if record.sequence else sa.DateTime()
        columns.append(sa.Column(record.watermark, kind))
        indexes.append(sa.Index(f"ix_{record.table}_{record.watermark}".lower(), record.watermark))
    if record.record_type in ("claim", "claim_item"):  # items are joined to their claims
        claim_column = record.fields["claim_id"].column
        indexes.append(sa.Index(f"ix_{record.table}_{claim_column}".lower(), claim_column))
    return sa.Table(record.table, sa.MetaData(), *columns, *indexes, mysql_charset="gbk")


def _insert_sql(table: sa.Table, dialect: sa.Dialect) -> str:
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    names = ", ".join(dialect.identifier_preparer.quote(c.name) for c in table.columns)
    return (f"INSERT INTO {dialect.identifier_preparer.quote(table.name)} ({names}) "
            f"VALUES ({', '.join(mark for _ in table.columns)})")
