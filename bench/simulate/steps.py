"""Where the time of a simulation goes (docs/simulation.md, "Speed"): loads a synthetic
province's 2011 (NCMS_BENCH_CLAIMS, default 1,000,000) once into a PostgreSQL schema that is
kept (NCMS_PROFILE_SCHEMA, default ``simulate_profile``; ``--drop`` drops it), then runs the
bench's simulation with four candidates and with one, printing each statement the engine runs
with its seconds; ``--explain`` prints EXPLAIN (ANALYZE, BUFFERS) of each instead of timing it.

    .venv/bin/python bench/simulate/steps.py [--explain] [--one] [--drop] [--module FILE]

``--module FILE``: the simulation of another version of ncms/simulation/simulate.py (e.g.
``git show REV:ncms/simulation/simulate.py`` with its relative import made absolute), to
compare the two on the same data.
"""
from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.common import ROOT, run_ncms  # noqa: E402
from bench.simulate.run import CLAIMS, EXTRA  # noqa: E402
from ncms import migrate  # noqa: E402
from ncms.db import create_engine, normalise_url, session_scope  # noqa: E402
from ncms.reference import read_reference  # noqa: E402
from ncms.simulation import parse_candidates_text, read_candidates, simulate  # noqa: E402
from ncms.synth import generate, write_packages  # noqa: E402

SCHEMA = os.environ.get("NCMS_PROFILE_SCHEMA", "simulate_profile")
URL = os.environ.get("NCMS_BENCH_DATABASE_URL") or os.environ.get("NCMS_TEST_DATABASE_URL") \
    or "postgresql://postgres@127.0.0.1:5432/test"


def schema_url() -> str:
    return sa.engine.make_url(normalise_url(URL)).update_query_dict(
        {"options": f"-csearch_path={SCHEMA}"}).render_as_string(hide_password=False)


def ensure_loaded() -> str:
    admin = create_engine(URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": SCHEMA}).first()
        if exists and conn.execute(sa.text(f"SELECT to_regclass('{SCHEMA}.claim') IS NOT NULL")).scalar():
            n = conn.execute(sa.text(f"SELECT count(*) FROM {SCHEMA}.claim")).scalar()
            if n:
                print(f"# {SCHEMA}: {n} claims already loaded", flush=True)
                admin.dispose()
                return schema_url()
        conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(sa.text(f"CREATE SCHEMA {SCHEMA}"))
    admin.dispose()
    url = schema_url()
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        began = time.perf_counter()
        province = generate(read_reference(ROOT / "config"), seed=1, claims=CLAIMS, years=(2011,))
        packages = write_packages(province, tmp / "packages", months_per_package=12)
        print(f"# {CLAIMS} claims generated in {time.perf_counter() - began:.1f} s", flush=True)
        args = ["--data-dir", str(tmp / "var"), "--database-url", url, "--config-dir", str(ROOT / "config")]
        run_ncms(args, "db", "load-config")
        began = time.perf_counter()
        run_ncms(args, "ingest", *map(str, packages))
        print(f"# loaded in {time.perf_counter() - began:.1f} s", flush=True)
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return url


def process_cpu(pid: int | str) -> float:
    """Seconds of CPU process ``pid`` has used (user and system, from /proc: the server is on
    this machine), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_cpu(cursor) -> float:  # type: ignore[no-untyped-def]
    """Seconds of CPU the PostgreSQL backend of ``cursor`` has used: the figure that the other
    work on a shared machine does not move as it moves the wall clock."""
    return process_cpu(cursor.connection.info.backend_pid)


class Workers(threading.Thread):
    """The CPU of the parallel workers of backend ``pid`` while a statement runs: their processes
    ("postgres: parallel worker for PID <pid>") looked for every 10 ms, each one's last reading
    kept (a worker's last 10 ms may be missed)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.title, self.seen, self.stopped = f"parallel worker for PID {pid}".encode(), {}, threading.Event()
        self.start()

    def run(self) -> None:
        while not self.stopped.wait(0.01):
            for entry in os.scandir("/proc"):
                if entry.name.isdigit():
                    try:
                        with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                            if self.title not in f.read():
                                continue
                    except OSError:
                        continue
                    cpu = process_cpu(entry.name)
                    if cpu:
                        self.seen[entry.name] = cpu

    def stop(self) -> float:
        self.stopped.set()
        self.join()
        return sum(self.seen.values())


def main() -> None:
    if "--drop" in sys.argv:
        admin = create_engine(URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        admin.dispose()
        return
    url = ensure_loaded()
    explain = "--explain" in sys.argv
    candidates = read_candidates(ROOT / "config" / "candidate-scheme.example.yaml") + parse_candidates_text(EXTRA)
    if "--one" in sys.argv:
        candidates = candidates[:1]
    run = simulate
    if "--module" in sys.argv:
        spec = importlib.util.spec_from_file_location("simulate_other", sys.argv[sys.argv.index("--module") + 1])
        assert spec and spec.loader
        module = sys.modules["simulate_other"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        run = module.simulate
    engine = create_engine(url)
    timings: list[tuple[float, float, float, str]] = []
    pending: dict[int, tuple[float, float, Workers]] = {}

    @sa.event.listens_for(engine, "before_cursor_execute", retval=True)
    def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if explain and statement.lstrip().upper().startswith(("SELECT", "INSERT", "WITH", "CREATE TEMPORARY TABLE")) and not executemany:
            cursor.execute("SAVEPOINT explained")  # EXPLAIN ANALYZE runs the statement: undone, then run
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
            print("=" * 100 + "\n" + statement[:3000] + "\n" + "-" * 100)
            print("\n".join(r[0] for r in cursor.fetchall()), flush=True)
            cursor.execute("ROLLBACK TO SAVEPOINT explained")
        pending[id(cursor)] = (time.perf_counter(), backend_cpu(cursor), Workers(cursor.connection.info.backend_pid))
        return statement, parameters

    @sa.event.listens_for(engine, "after_cursor_execute")
    def after(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        began, cpu, workers = pending.pop(id(cursor))
        timings.append((time.perf_counter() - began, backend_cpu(cursor) - cpu, workers.stop(),
                        " ".join(statement.split())[:150]))

    for _ in range(1 if explain else 2):
        timings.clear()
        began, client = time.perf_counter(), time.process_time()
        with session_scope(engine) as session:
            results = run(session, None, 2011, candidates)
        total = time.perf_counter() - began
        print(f"# {len(candidates)} candidate(s), {sum(r.claims for r in results)} claims: {total:.2f} s, "
              f"PostgreSQL's CPU {sum(t[1] + t[2] for t in timings):.2f} s (the backend {sum(t[1] for t in timings):.2f}"
              f" + its parallel workers {sum(t[2] for t in timings):.2f}), Python's CPU {time.process_time() - client:.2f} s "
              f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    print("  wall    backend CPU  workers' CPU")
    for seconds, cpu, workers, statement in timings:
        if seconds >= 0.01:
            print(f"{seconds:7.2f} s {cpu:7.2f} s {workers:7.2f} s  {statement}")
    engine.dispose()


if __name__ == "__main__":
    main()
