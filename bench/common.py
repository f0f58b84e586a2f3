"""Shared pieces of the benchmarks: databases to run on, timing, the RESULT line."""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from ncms.db import create_engine, normalise_url

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


class Timer:
    def __enter__(self) -> "Timer":
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start


def result(bench: str, database: str, value: float, unit: str, limit: float) -> None:
    ratio = value / limit if limit else 0.0
    print(f"RESULT {bench} {database} value={value:.1f} unit={unit} limit={limit:.1f} ratio={ratio:.3f}", flush=True)
