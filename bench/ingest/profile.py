"""Where an ingest spends its time: per step of the pipeline, and per statement on PostgreSQL.

Not a benchmark (no RESULT line): the tool behind the breakdowns quoted in
docs/ingestion.md. It generates a synthetic province (NCMS_BENCH_CLAIMS, default 300,000
claims), ingests it in this process with NCMS_INGEST_JOBS loaders (default 1, so the
steps do not overlap), and prints

- the wall time and this process's CPU time (the calling thread's) of each pipeline step,
  summed over batches (and over loaders): on SQLite the CPU is the step's own work;
- on PostgreSQL, the database backend's CPU seconds per statement (read from
  /proc/<backend pid>/stat around each statement and each COPY), the biggest first;
- the CPU seconds of this process and of the loaders' PostgreSQL backends during the ingest.

NCMS_BENCH_DROP_INDEXES (names, comma-separated) drops those indexes after the migrations,
to weigh what their upkeep costs the load against the same run with them.

    .venv/bin/python bench/ingest/profile.py                      # SQLite
    NCMS_BENCH_DATABASES=postgresql .venv/bin/python bench/ingest/profile.py
    NCMS_BENCH_DATABASES=postgresql NCMS_BENCH_DROP_INDEXES=ix_claim_member .venv/bin/python bench/ingest/profile.py
"""
from __future__ import annotations

import collections
import functools
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import ROOT, databases, migrated_database  # noqa: E402

from ncms.cli import main as cli  # noqa: E402
from ncms.db import normalise_url  # noqa: E402
from ncms.exchange.schemas import RECORD_SCHEMAS  # noqa: E402
from ncms.ingest import checks, direct, items, pipeline, staging, upsert  # noqa: E402
from ncms.reference import read_reference  # noqa: E402
from ncms.synth import generate, write_packages  # noqa: E402

CLAIMS = int(os.environ.get("NCMS_BENCH_CLAIMS", "300000"))
CLOCK = os.sysconf("SC_CLK_TCK")
steps: dict[str, float] = collections.defaultdict(float)
step_cpu: dict[str, float] = collections.defaultdict(float)
statements: dict[str, float] = collections.defaultdict(float)
backends: dict[int, list[float]] = {}  # backend pid: its CPU seconds when first and last seen
_started = threading.local()


def timed(owner: Any, name: str, label: str) -> None:
    """Wrap ``owner.name`` so that its wall and CPU time add up under ``label``."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            steps[label] += time.perf_counter() - start
            step_cpu[label] += time.thread_time() - cpu

    setattr(owner, name, wrapper)


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK


def count_statements() -> None:
    """Backend CPU per statement (its first 70 characters) and per COPY target table."""
    def pid(conn: sa.Connection) -> int | None:
        info = getattr(conn.connection.dbapi_connection, "info", None)
        return getattr(info, "backend_pid", None)

    @sa.event.listens_for(sa.Engine, "before_cursor_execute")
    def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        backend = pid(conn)
        _started.value = (backend, backend_cpu(backend)) if backend else None

    @sa.event.listens_for(sa.Engine, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        started = getattr(_started, "value", None)
        if started:
            statements[" ".join(statement.split())[:70]] += backend_cpu(started[0]) - started[1]

    # a backend's CPU is read when its connection is handed out and given back: the ingest
    # closes its connections before it returns, and a backend gone can no longer be read
    def seen(dbapi_connection, *_: Any) -> None:  # noqa: ANN001
        backend = getattr(getattr(dbapi_connection, "info", None), "backend_pid", None)
        if backend:
            cpu = backend_cpu(backend)
            backends.setdefault(backend, [cpu, cpu])[1] = cpu

    sa.event.listen(sa.pool.Pool, "checkout", seen)
    sa.event.listen(sa.pool.Pool, "checkin", seen)

    def counting(original: Callable[..., Any], label: Callable[..., str]) -> Callable[..., Any]:
        @functools.wraps(original)
        def wrapper(conn: sa.Connection, *args: Any, **kwargs: Any) -> Any:
            backend = pid(conn)
            start = backend_cpu(backend) if backend else 0.0
            try:
                return original(conn, *args, **kwargs)
            finally:
                if backend:
                    statements[label(*args)] += backend_cpu(backend) - start
        return wrapper

    append = counting(staging.append, lambda table, frame: f"COPY {table.name}")
    for module in (staging, items, direct, pipeline):
        module.append = append


def drop_indexes(url: str) -> list[str]:
    """Drop the indexes NCMS_BENCH_DROP_INDEXES names; the names dropped."""
    names = [n for n in os.environ.get("NCMS_BENCH_DROP_INDEXES", "").split(",") if n]
    if names:
        engine = sa.create_engine(normalise_url(url))
        with engine.begin() as conn:
            for index in names:
                conn.execute(sa.text(f"DROP INDEX {index}"))
        engine.dispose()
    return names


def main() -> None:
    for label, owner, names in (
        ("pipeline", pipeline, ["create_staging", "index_staging", "run_checks", "load_staged", "drop_staging",
                                "after_batch"]),
        ("loader", pipeline._Loader, ["stage_file", "close_batch"]),  # noqa: SLF001
        ("upsert", upsert._Context, ["households", "members", "enrolments", "claims", "financing"]),  # noqa: SLF001
        ("checks", checks, ["mark_duplicates", "mark_item_totals"]),
        ("items", items, ["duplicate_lines", "claim_totals", "stage_claims", "refused_by_claim", "drop_resent",
                          "load"]),
        ("direct", direct, ["stage_refused", "load"]),
    ):
        for name in names:
            timed(owner, name, f"{label}.{name}")
    timed(pipeline.Package, "open", "package.open")
    count_statements()
    with tempfile.TemporaryDirectory(prefix="ncms-profile-") as tmp_name:
        tmp = Path(tmp_name)
        province = generate(read_reference(ROOT / "config"), seed=1, claims=CLAIMS, years=(2011,))
        rows = sum(f.height for k, f in province.frames.items() if k in RECORD_SCHEMAS)
        packages = write_packages(province, tmp / "packages", months_per_package=12)
        del province
        for name, url in databases(tmp):
            with migrated_database(tmp, name, url) as (schema_url, args):
                dropped = drop_indexes(schema_url)
                cli([*args, "db", "load-config"], standalone_mode=False)
                os.environ.setdefault("NCMS_INGEST_JOBS", "1")
                steps.clear()
                step_cpu.clear()
                statements.clear()
                backends.clear()
                own = resource.getrusage(resource.RUSAGE_SELF)
                start = time.perf_counter()
                cli([*args, "ingest", *map(str, packages)], standalone_mode=False)
                seconds = time.perf_counter() - start
                after = resource.getrusage(resource.RUSAGE_SELF)
            print(f"\n# {name}: {rows} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s), "
                  f"{os.environ['NCMS_INGEST_JOBS']} loader(s)" + (f"; without {', '.join(dropped)}" if dropped else ""))
            print(f"# CPU: this process {after.ru_utime + after.ru_stime - own.ru_utime - own.ru_stime:.1f} s, "
                  f"PostgreSQL backends {sum(last - first for first, last in backends.values()):.1f} s")
            print("# wall and CPU seconds per step (summed over batches and loaders):")
            for label, value in sorted(steps.items(), key=lambda kv: -kv[1]):
                print(f"  {value:7.2f}  {step_cpu[label]:7.2f}  {label}")
            if statements:
                print("# database backend CPU seconds per statement:")
                for label, value in sorted(statements.items(), key=lambda kv: -kv[1])[:30]:
                    print(f"  {value:7.2f}  {label}")


if __name__ == "__main__":
    main()
