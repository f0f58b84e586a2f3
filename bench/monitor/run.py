"""The rule catalogue over a 1-million-claim province against one full scan, on SQLite and PostgreSQL;
then incremental runs after batches of 10,000 new claims.

1. The synthetic province (NCMS_BENCH_CLAIMS, default 1,000,000 claims) is loaded with
   ``ncms ingest`` into an empty database (not timed), less NCMS_BENCH_ROUNDS batches of
   10,000 claims (and their items) held back at random.
2. Limit: one full scan of the claims and items tables (a SELECT summing a column of each).
3. The whole catalogue (``ncms monitor run --no-anomaly``) in a child process, from no findings; the
   figure is the run's own time as it prints it (the child's start, ~1 s of imports, is not
   the catalogue; its wall time is printed too).
4. Scan and catalogue take turns NCMS_BENCH_ROUNDS times (3); the medians are compared.
   The floor: the catalogue within 20 scans, i.e. ratio = scan seconds x 20 / catalogue
   seconds at least 1.
5. Each held-back batch is then loaded (not timed) and ``ncms monitor run --incremental``
   timed the same way; the floor is 5 seconds.

Prints ``RESULT monitor <db> value=<catalogue s> unit=s limit=<20 scans, s> ratio=<limit/value>``
and ``RESULT monitor-incremental <db> value=<median s> unit=s limit=5.0 ratio=<limit/value>``.
"""
from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import ROOT, Timer, databases, forget_findings, full_scan, loaded_database  # noqa: E402
from common import run_ncms as ncms  # noqa: E402

from ncms.db import create_engine  # noqa: E402
from ncms.reference import read_reference  # noqa: E402
from ncms.synth import generate, write_packages  # noqa: E402

CLAIMS = int(os.environ.get("NCMS_BENCH_CLAIMS", "1000000"))
ROUNDS = int(os.environ.get("NCMS_BENCH_ROUNDS", "3"))
SCANS = 20  # the floor: the catalogue within 20 full scans
BATCH = 10_000  # claims in each held-back batch
INCREMENTAL_LIMIT = 5.0  # seconds


def catalogue(url: str, args: list[str], *options: str, fresh: bool = True) -> float:
    """A ``ncms monitor run --no-anomaly`` in a child (the rule catalogue: the anomaly model has
    its own bench, bench/anomaly); the run's own seconds."""
    if fresh:  # from no findings
        engine = create_engine(url)
        forget_findings(engine)
        engine.dispose()
    with Timer() as timer:
        done = ncms(args, "monitor", "run", "--no-anomaly", *options)
    print("\n".join("#   " + line for line in done.stdout.splitlines()[-25:]))
    # the run line wherever it is: the claims a rule could not judge are printed after it
    seconds = float(re.search(r"^run \S+: .*, ([0-9.]+) s$", done.stdout, re.M).group(1))  # run …: …, 7.9 s
    print(f"#   (the child's wall time: {timer.seconds:.1f} s)")
    return seconds


def held_back(province, rounds: int, tmp: Path) -> tuple[object, list[list[Path]]]:  # type: ignore[no-untyped-def]
    """The province less ``rounds`` random batches of BATCH claims, and those batches' packages."""
    claims, items = province.frames["claim"], province.frames["claim_item"]
    picked = claims.select("county_code", "claim_id").sample(n=BATCH * rounds, seed=7, shuffle=True)
    batches = []
    for n in range(rounds):
        batch = picked.slice(n * BATCH, BATCH)
        frames = {name: frame.clear() for name, frame in province.frames.items()}
        frames["claim"] = claims.join(batch, on=["county_code", "claim_id"], how="semi")
        frames["claim_item"] = items.join(batch, on=["county_code", "claim_id"], how="semi")
        batches.append(write_packages(replace(province, frames=frames), tmp / f"batch-{n + 1}", months_per_package=12))
    base = dict(province.frames, claim=claims.join(picked, on=["county_code", "claim_id"], how="anti"),
                claim_item=items.join(picked, on=["county_code", "claim_id"], how="anti"))
    return replace(province, frames=base), batches


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ncms-bench-monitor-") as tmp_name:
        tmp = Path(tmp_name)
        with Timer() as gen:
            province = generate(read_reference(ROOT / "config"), seed=1, claims=CLAIMS, years=(2011,))
            base, batches = held_back(province, ROUNDS, tmp)
            packages = write_packages(base, tmp / "packages", months_per_package=12)
        print(f"# {base.frames['claim'].height} claims, {base.frames['claim_item'].height} items, "
              f"{ROUNDS} batches of {BATCH} claims held back; generated in {gen.seconds:.1f} s", flush=True)
        del province, base
        for name, url in databases(tmp):
            sqlite = f"sqlite:///{tmp / 'monitor.db'}"
            with loaded_database(tmp, name, url if name != "sqlite" else sqlite, packages) as (db_url, args):
                scans, runs = [], []
                for round_no in range(ROUNDS):
                    scans.append(full_scan(db_url))
                    runs.append(catalogue(db_url, args))
                    print(f"# {name} round {round_no + 1}: full scan {scans[-1]:.2f} s, catalogue {runs[-1]:.1f} s",
                          flush=True)
                seconds, limit = statistics.median(runs), SCANS * statistics.median(scans)
                print(f"RESULT monitor {name} value={seconds:.1f} unit=s limit={limit:.1f} ratio={limit / seconds:.3f}",
                      flush=True)
                increments = []
                for round_no, batch in enumerate(batches):
                    ncms(args, "ingest", *map(str, batch))
                    increments.append(catalogue(db_url, args, "--incremental", fresh=False))
                    print(f"# {name} batch {round_no + 1}: incremental run {increments[-1]:.2f} s", flush=True)
                seconds = statistics.median(increments)
                print(f"RESULT monitor-incremental {name} value={seconds:.2f} unit=s limit={INCREMENTAL_LIMIT:.1f} "
                      f"ratio={INCREMENTAL_LIMIT / seconds:.3f}", flush=True)


if __name__ == "__main__":
    main()
