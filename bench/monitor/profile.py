"""Where a run of the rule catalogue spends its time: per query, alone and side by side.

Not a benchmark (no RESULT line): the tool behind the per-query figures quoted in the issue
notes. It generates a synthetic province (NCMS_BENCH_CLAIMS, default 300,000 claims), loads it
with ``ncms ingest``, runs the catalogue once to settle (the vacuum and analyse after a load,
the last run's times that order the queries), and then, in this process,

- one query at a time (``monitor_jobs`` 1): each query's seconds (the rules of a basis run as
  one) and the part of them spent filing findings, the biggest first;
- as configured (one query per core): when each query started and ended, on which worker
  (PostgreSQL only: on a SQLite file the queries run in worker processes), and the run's time.

    .venv/bin/python bench/monitor/profile.py                      # SQLite, then PostgreSQL
    NCMS_BENCH_DATABASES=postgresql NCMS_BENCH_CLAIMS=1000000 .venv/bin/python bench/monitor/profile.py
"""
from __future__ import annotations

import collections
import os
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import ROOT, databases, forget_findings, migrated_database  # noqa: E402

from ncms.cli import main as cli  # noqa: E402
from ncms.config import load_settings  # noqa: E402
from ncms.db import create_engine  # noqa: E402
from ncms.monitor import engine as monitor  # noqa: E402
from ncms.reference import read_reference  # noqa: E402
from ncms.synth import generate, write_packages  # noqa: E402

CLAIMS = int(os.environ.get("NCMS_BENCH_CLAIMS", "300000"))
queries: list[tuple[float, float, str, str]] = []  # (start, end, worker, rules)
filing: dict[str, float] = collections.defaultdict(float)


def instrument() -> None:
    """Record each query's start and end, and each rule's filing time."""
    run_steps, file = monitor._run_steps, monitor.file_findings  # noqa: SLF001

    def timed_steps(engine: Any, steps: list[Any], *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return run_steps(engine, steps, *args, **kwargs)
        finally:
            queries.append((start, time.perf_counter(), threading.current_thread().name,
                            ", ".join(step.rule.code for step in steps)))

    def timed_file(session: Any, rule: Any, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return file(session, rule, *args, **kwargs)
        finally:
            filing[rule.code] += time.perf_counter() - start

    monitor._run_steps, monitor.file_findings = timed_steps, timed_file  # noqa: SLF001


def main() -> None:
    instrument()
    with tempfile.TemporaryDirectory(prefix="ncms-profile-monitor-") as tmp_name:
        tmp = Path(tmp_name)
        province = generate(read_reference(ROOT / "config"), seed=1, claims=CLAIMS, years=(2011,))
        packages = write_packages(province, tmp / "packages", months_per_package=12)
        del province
        for name, url in databases(tmp):
            with migrated_database(tmp, name, url) as (schema_url, args):
                engine = create_engine(schema_url)
                cli([*args, "db", "load-config"], standalone_mode=False)
                cli([*args, "ingest", *map(str, packages)], standalone_mode=False)
                settings = load_settings(database_url=schema_url, config_dir=ROOT / "config")
                monitor.run_monitor(engine, settings)  # settles: vacuum and analyse, times on record
                print(f"\n# {name}, {CLAIMS:,} claims")
                forget_findings(engine)
                queries.clear()
                filing.clear()
                alone = monitor.run_monitor(engine, replace(settings, monitor_jobs=1))
                print(f"# one query at a time: {alone.seconds:.2f} s, of which filing {sum(filing.values()):.2f} s")
                for start, end, _, rules in sorted(queries, key=lambda q: q[0] - q[1]):
                    filed = sum(filing[rule] for rule in rules.split(", "))
                    print(f"  {end - start:6.2f}  (filing {filed:4.2f})  {rules}")
                forget_findings(engine)
                queries.clear()
                started = time.perf_counter()
                together = monitor.run_monitor(engine, settings)
                print(f"# {settings.rule_jobs()} at a time: {together.seconds:.2f} s")
                for start, end, worker, rules in sorted(queries):
                    print(f"  {start - started:6.2f} {end - started:6.2f} {end - start:6.2f}  {worker:8s} {rules}")
                engine.dispose()


if __name__ == "__main__":
    main()
