"""This checkout's rule catalogue against another revision's, taking turns on one loaded province.

Not a benchmark (no RESULT line): the tool behind the notes' before/after figures. On this
machine kind the CPU speed drifts by a fifth within the hour, so two benches run one after the
other compare the hours as much as the code; here both revisions run in turn, each in a fresh
child process, on the same warm database, and each is timed one query at a time (its work) and
as configured (its wall time). Both revisions must share the database schema (it is migrated
by this checkout).

    .venv/bin/python bench/monitor/compare.py ad1cfa7
    NCMS_BENCH_DATABASES=postgresql NCMS_BENCH_CLAIMS=1000000 .venv/bin/python bench/monitor/compare.py HEAD~3
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import ROOT, databases, forget_findings, migrated_database  # noqa: E402

from ncms.cli import main as cli  # noqa: E402
from ncms.db import create_engine  # noqa: E402
from ncms.reference import read_reference  # noqa: E402
from ncms.synth import generate, write_packages  # noqa: E402

CLAIMS = int(os.environ.get("NCMS_BENCH_CLAIMS", "300000"))
ROUNDS = int(os.environ.get("NCMS_BENCH_ROUNDS", "3"))

# one catalogue run in the revision on PYTHONPATH; prints its seconds
RUN = """
import sys
from dataclasses import replace
from pathlib import Path
from ncms.config import load_settings
from ncms.db import create_engine
from ncms.monitor.engine import run_monitor
url, config, jobs = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
settings = load_settings(database_url=url, config_dir=config)
print(run_monitor(create_engine(url), replace(settings, monitor_jobs=jobs) if jobs else settings).seconds)
"""


def run(tree: Path, url: str, jobs: int) -> float:
    """One catalogue run of the revision in ``tree``, from no findings: its own seconds."""
    engine = create_engine(url)
    forget_findings(engine)
    engine.dispose()
    done = subprocess.run([sys.executable, "-c", RUN, url, str(ROOT / "config"), str(jobs)], cwd=tree,
                          env=dict(os.environ, PYTHONPATH=str(tree)), capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"the catalogue failed in {tree}:\n{done.stderr[-3000:]}")
    return float(done.stdout.split()[-1])


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    revision = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix="ncms-compare-") as tmp_name:
        tmp = Path(tmp_name)
        other = tmp / "other"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(other), revision], check=True)
        try:
            province = generate(read_reference(ROOT / "config"), seed=1, claims=CLAIMS, years=(2011,))
            packages = write_packages(province, tmp / "packages", months_per_package=12)
            del province
            trees = {revision: other, "this checkout": ROOT}
            for name, url in databases(tmp):
                with migrated_database(tmp, name, url) as (db_url, args):
                    cli([*args, "db", "load-config"], standalone_mode=False)
                    cli([*args, "ingest", *map(str, packages)], standalone_mode=False)
                    run(ROOT, db_url, 0)  # settles: the vacuum and analyse after a load, a warm cache
                    times: dict[tuple[str, int], list[float]] = {}
                    for round_no in range(ROUNDS):  # in turns, the other first every second round
                        for label in (list(trees) if round_no % 2 == 0 else list(trees)[::-1]):
                            for jobs in (1, 0):
                                times.setdefault((label, jobs), []).append(run(trees[label], db_url, jobs))
                    print(f"\n# {name}, {CLAIMS:,} claims, {ROUNDS} runs each (medians; every run in brackets)")
                    for (label, jobs), seconds in times.items():
                        kind = "one query at a time" if jobs == 1 else "as configured"
                        print(f"  {label:>14s}  {kind:20s} {statistics.median(seconds):6.2f} s  "
                              f"({', '.join(f'{s:.2f}' for s in seconds)})")
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(other)], check=False)


if __name__ == "__main__":
    main()
