"""Shared pieces of the benchmarks: databases to run on, timing, the RESULT line."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from ncms import migrate
from ncms.db import create_engine, normalise_url
from ncms.exchange.schemas import RECORD_SCHEMAS

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"


def databases(tmp: Path) -> Iterator[tuple[str, str]]:
    """(name, url) of each database to measure: SQLite always, PostgreSQL when reachable;
    NCMS_BENCH_DATABASES=postgresql (or sqlite) measures just that one."""
    wanted = set(filter(None, os.environ.get("NCMS_BENCH_DATABASES", "sqlite,postgresql").split(",")))
    if "sqlite" in wanted:
        yield "sqlite", f"sqlite:///{tmp / 'bench.db'}"
    if "postgresql" not in wanted:
        return
    url = os.environ.get("NCMS_BENCH_DATABASE_URL") or os.environ.get("NCMS_TEST_DATABASE_URL") \
        or "postgresql://postgres@127.0.0.1:5432/test"
    try:
        engine = sa.create_engine(normalise_url(url))
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
    except sa.exc.OperationalError as exc:
        print(f"# PostgreSQL not measured: {exc.orig}")
        return
    yield "postgresql", url


@contextmanager
def fresh_schema(url: str) -> Iterator[str]:
    """A URL whose PostgreSQL search path is a new, empty schema, dropped afterwards."""
    if not url.startswith("postgres"):
        yield url
        return
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        yield sa.engine.make_url(normalise_url(url)).update_query_dict(
            {"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@contextmanager
def migrated_database(tmp: Path, name: str, url: str) -> Iterator[tuple[str, list[str]]]:
    """A fresh database migrated to the head (on PostgreSQL a schema of its own, dropped
    afterwards): its URL, and the ``ncms`` options that point at it, its data folder under
    ``tmp`` and the configuration."""
    with fresh_schema(url) as schema_url:
        engine = create_engine(schema_url)
        migrate.upgrade(engine)
        engine.dispose()
        yield schema_url, ["--data-dir", str(tmp / f"var-{name}"), "--database-url", schema_url,
                           "--config-dir", str(ROOT / "config")]


@contextmanager
def loaded_database(tmp: Path, name: str, url: str, packages: list[Path]) -> Iterator[tuple[str, list[str]]]:
    """A fresh database (``migrated_database``) holding the configuration and ``packages``,
    loaded by ``ncms ingest`` in a child (not timed by the caller: its time is printed)."""
    with migrated_database(tmp, name, url) as (db_url, args):
        run_ncms(args, "db", "load-config")
        with Timer() as load:
            run_ncms(args, "ingest", *map(str, packages))
        print(f"# {name}: loaded in {load.seconds:.1f} s", flush=True)
        yield db_url, args


@contextmanager
def loaded_province(tmp: Path, name: str, url: str, claims: int) -> Iterator[tuple[str, list[str]]]:
    """The synthetic province of ``claims`` claims (seed 1, the year 2011) generated, written as
    a year's package per county under ``tmp`` and loaded into a fresh database
    (``loaded_database``); the generation's time is printed."""
    from ncms.reference import read_reference
    from ncms.synth import generate, write_packages

    with Timer() as gen:
        province = generate(read_reference(ROOT / "config"), seed=1, claims=claims, years=(2011,))
        packages = write_packages(province, tmp / "packages", months_per_package=12)
    print(f"# {province.frames['claim'].height} claims generated in {gen.seconds:.1f} s", flush=True)
    del province
    with loaded_database(tmp, name, url, packages) as loaded:
        yield loaded


def run_ncms(args: list[str], *command: str) -> subprocess.CompletedProcess:
    """``ncms`` with ``args`` and ``command`` in a child process (which prints its peak memory
    on stderr); exits the bench with the child's output if it fails."""
    done = subprocess.run([sys.executable, "-c", CHILD, *args, *command], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"ncms {' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def full_scan(url: str) -> float:
    """Seconds of one full scan of the claims and items tables: a SELECT summing a column of each."""
    engine = create_engine(url)
    with Timer() as timer, engine.connect() as conn:
        conn.execute(sa.text("SELECT sum(total_amount) FROM claim")).scalar()
        conn.execute(sa.text("SELECT sum(amount) FROM claim_item")).scalar()
    engine.dispose()
    return timer.seconds


def forget_findings(engine: sa.Engine) -> None:
    """Delete every finding and its events: the monitoring benches time a catalogue run from none."""
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM finding_event"))
        conn.execute(sa.text("DELETE FROM finding"))


class Timer:
    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def result(bench: str, database: str, value: float, unit: str, limit: float) -> None:
    ratio = value / limit if limit else 0.0
    print(f"RESULT {bench} {database} value={value:.1f} unit={unit} limit={limit:.1f} ratio={ratio:.3f}", flush=True)


RAW_TYPES = {"text": "TEXT", "code": "TEXT", "national_id": "TEXT", "icd10": "TEXT", "integer": "INTEGER",
             "decimal": "NUMERIC(14,3)", "date": "DATE", "boolean": "SMALLINT"}


def raw_tables(conn: sa.Connection, typed: bool = True) -> None:
    """Tables with the exchange columns and unique keys; ``typed=False``: every column TEXT
    (for rows as a county database holds them, which no type of the exchange may fit)."""
    for record_type, schema in RECORD_SCHEMAS.items():
        cols = ", ".join(f"{n} {RAW_TYPES[s.kind] if typed else 'TEXT'}" for n, s in schema.specs().items())
        key = ", ".join(("county_code", *schema.key))
        conn.execute(sa.text(f"CREATE TABLE raw_{record_type} (county_code TEXT, {cols}, UNIQUE ({key}))"))


def raw_load(url: str, frames: dict[str, pl.DataFrame], typed: bool = True) -> float:
    """Seconds to load every row with no checks: the floor any loader is measured against."""
    engine = create_engine(url)
    with engine.begin() as conn:
        raw_tables(conn, typed)
    with Timer() as timer, engine.begin() as conn:
        for record_type, frame in frames.items():
            columns = ["county_code", *RECORD_SCHEMAS[record_type].specs()]
            frame = frame.select(columns)
            if conn.dialect.name == "postgresql":
                buffer = io.BytesIO()
                frame.write_csv(buffer, include_header=False, null_value="")
                with conn.connection.dbapi_connection.cursor() as cur:
                    with cur.copy(f"COPY raw_{record_type} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)") as cp:
                        cp.write(buffer.getbuffer())
            else:
                conn.exec_driver_sql(f"INSERT INTO raw_{record_type} ({', '.join(columns)}) "
                                     f"VALUES ({', '.join('?' for _ in columns)})", frame.rows())
    engine.dispose()
    return timer.seconds


# VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked copy of this
# (large) parent, so it would report the parent's size, not the ingest's.
CHILD = """
import re, sys
from ncms.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    status = open("/proc/self/status").read()
    print("PEAK_KIB", re.search(r"VmHWM:\\s+(\\d+)", status).group(1), file=sys.stderr)
"""
