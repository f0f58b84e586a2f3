"""The provincial quarterly report at a million claims: ``ncms report build`` (content, PDF, CSV
and XML statistics, manifest, package), on PostgreSQL.

1. The synthetic province (NCMS_BENCH_CLAIMS, default 1,000,000 claims of 2011) is loaded with
   ``ncms ingest`` into an empty schema and ``ncms monitor run --no-anomaly`` files its findings;
   one finding in five is then marked pushed to its county and one in ten determined, with
   money to recover and half of it recovered, so the supervision tables have every figure
   (the findings' summary refreshed). None of this is timed.
   NCMS_BENCH_REPORTS_URL: a database already so loaded (migrated, configuration loaded) to
   build against instead; nothing is generated nor loaded.
2. ``ncms report build --kind quarterly --period 2011-Q2`` in a child process,
   NCMS_BENCH_ROUNDS times (3), each a new revision: the child's wall time (as an operator
   waits for it, start-up included) and CPU, and the build's own steps as it prints them
   (content from the indicators' summary tables, the PDF, the statistics).

Prints ``RESULT reports postgresql value=<median seconds> unit=s limit=30 ratio=<30/value>``
(the issue's floor: under 30 seconds; a ratio of at least 1).
NCMS_BENCH_DATABASES=sqlite,postgresql measures SQLite too (default: PostgreSQL alone).
"""
from __future__ import annotations

import os
import re
import resource
import statistics
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import ROOT, Timer, databases, loaded_database  # noqa: E402
from common import run_ncms as ncms  # noqa: E402

import sqlalchemy as sa  # noqa: E402

from ncms.db import create_engine, session_scope  # noqa: E402

CLAIMS = int(os.environ.get("NCMS_BENCH_CLAIMS", "1000000"))
ROUNDS = int(os.environ.get("NCMS_BENCH_ROUNDS", "3"))
LIMIT = 30.0  # seconds
BUILD = ("report", "build", "--kind", "quarterly", "--period", "2011-Q2")


def review_some(url: str) -> None:
    """One finding in five pushed, one in ten determined (its money at stake to recover, half of
    it recovered), as the review loop would leave them; the findings' summary refreshed."""
    from ncms.indicators import refresh_findings

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE finding SET pushed_at = first_seen_at WHERE id % 5 = 0"))
        conn.execute(sa.text(
            "UPDATE finding SET status = 'confirmed', decided_at = first_seen_at, "
            "amount_to_recover = amount_at_stake, amount_recovered = round(amount_at_stake / 2, 2) "
            "WHERE id % 10 = 0 AND rule_code NOT IN ('fund_overspend', 'fund_surplus', 'fund_cumulative_surplus')"))
    with session_scope(engine) as session:
        refresh_findings(session)
    with engine.connect() as conn:
        counts = conn.execute(sa.text("SELECT count(*), count(pushed_at), sum(CASE WHEN status = 'confirmed' "
                                      "THEN 1 ELSE 0 END) FROM finding")).one()
    engine.dispose()
    print(f"# findings: {counts[0]}, pushed {counts[1]}, determined {counts[2]}", flush=True)


def build(args: list[str]) -> tuple[float, float, str]:
    """One build in a child: its wall seconds, its CPU seconds, the line of its steps."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with Timer() as timer:
        done = ncms(args, *BUILD)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    steps = re.search(r"in ([0-9.]+ s: .*)$", done.stdout, re.M)
    revision = re.search(r"revision (\d+)", done.stdout)
    return timer.seconds, cpu, f"revision {revision.group(1) if revision else '?'}, " + (
        steps.group(1) if steps else done.stdout.strip()[-200:])


def measure(name: str, args: list[str]) -> None:
    walls = []
    for n in range(1, ROUNDS + 1):
        wall, cpu, steps = build(args)
        walls.append(wall)
        print(f"# {name} round {n}: {wall:.1f} s wall, {cpu:.1f} s CPU of the child; {steps}", flush=True)
    value = statistics.median(walls)
    print(f"# {name}: builds of {', '.join(f'{w:.1f}' for w in walls)} s (median {value:.1f})")
    print(f"RESULT reports {name} value={value:.1f} unit=s limit={LIMIT:.1f} ratio={LIMIT / max(value, 0.01):.3f}",
          flush=True)


@contextmanager
def province(tmp: Path, name: str, url: str):  # type: ignore[no-untyped-def]
    """The loaded province (step 1): the ``ncms`` options that point at it."""
    from ncms.reference import read_reference
    from ncms.synth import generate, write_packages

    with Timer() as gen:
        generated = generate(read_reference(ROOT / "config"), seed=1, claims=CLAIMS, years=(2011,))
        packages = write_packages(generated, tmp / "packages", months_per_package=12)
    print(f"# {generated.frames['claim'].height} claims generated in {gen.seconds:.1f} s", flush=True)
    del generated
    with loaded_database(tmp, name, url, packages) as (db_url, args):
        with Timer() as run:
            done = ncms(args, "monitor", "run", "--no-anomaly")
        print(f"# {name}: monitor run in {run.seconds:.1f} s: "
              + (done.stdout.strip().splitlines() or ["?"])[-1][:200], flush=True)
        review_some(db_url)
        yield args


def main() -> None:
    os.environ.setdefault("NCMS_BENCH_DATABASES", "postgresql")
    reuse = os.environ.get("NCMS_BENCH_REPORTS_URL")
    with tempfile.TemporaryDirectory(prefix="ncms-bench-reports-") as tmp_name:
        tmp = Path(tmp_name)
        if reuse:
            name = "postgresql" if reuse.startswith("postgres") else "sqlite"
            measure(name, ["--data-dir", str(tmp / "var"), "--database-url", reuse,
                           "--config-dir", str(ROOT / "config")])
            return
        for name, url in databases(tmp):
            with province(tmp, name, url) as args:
                measure(name, args)


if __name__ == "__main__":
    main()
