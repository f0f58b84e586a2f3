"""The anomaly model over a 1-million-claim province: features and scoring, seconds and peak
memory, on PostgreSQL (and SQLite).

1. The synthetic province (NCMS_BENCH_CLAIMS, default 1,000,000 claims, ten labelled
   anomalous institutions) is loaded with ``ncms ingest`` into an empty database (not timed).
2. ``ncms monitor run --rule institution_anomaly`` in a child process, NCMS_BENCH_ROUNDS
   times (3): the features of every institution month, the peer comparison, the findings
   filed. The figure is the median of the runs' own seconds as they print them; the peak
   memory (VmHWM) the largest of the children's.
3. For scale, one full scan of the claims and items tables (a SELECT summing a column of
   each) is timed between the runs.

The floors are the issue's: under 60 seconds and under 2 GiB on PostgreSQL. Prints
``RESULT anomaly <db> value=<s> unit=s limit=60.0 ratio=<limit/value>`` and
``RESULT anomaly-memory <db> value=<MiB> unit=MiB limit=2048.0 ratio=<limit/value>``.
"""
from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import ROOT, Timer, databases, forget_findings, full_scan, loaded_database  # noqa: E402
from common import run_ncms as ncms  # noqa: E402

from ncms.db import create_engine  # noqa: E402
from ncms.reference import read_reference  # noqa: E402
from ncms.synth import generate, write_packages  # noqa: E402

CLAIMS = int(os.environ.get("NCMS_BENCH_CLAIMS", "1000000"))
ROUNDS = int(os.environ.get("NCMS_BENCH_ROUNDS", "3"))
SECONDS_LIMIT, MEMORY_LIMIT_MIB = 60.0, 2048.0


def model_run(url: str, args: list[str]) -> tuple[float, float]:
    """The model's run from no findings: its own seconds, and the child's peak memory (MiB)."""
    engine = create_engine(url)
    forget_findings(engine)
    engine.dispose()
    done = ncms(args, "monitor", "run", "--rule", "institution_anomaly")
    print("\n".join("#   " + line for line in done.stdout.splitlines()[-3:]))
    seconds = float(re.search(r"yuan at stake, ([0-9.]+) s$", done.stdout.strip().splitlines()[-1]).group(1))
    peak = int(re.search(r"PEAK_KIB (\d+)", done.stderr).group(1)) / 1024
    return seconds, peak


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ncms-bench-anomaly-") as tmp_name:
        tmp = Path(tmp_name)
        with Timer() as gen:
            province = generate(read_reference(ROOT / "config"), seed=1, claims=CLAIMS, years=(2011,),
                                anomalous_institutions=10)
            packages = write_packages(province, tmp / "packages", months_per_package=12)
        print(f"# {province.frames['claim'].height} claims, {province.frames['claim_item'].height} items; "
              f"generated in {gen.seconds:.1f} s", flush=True)
        del province
        for name, url in databases(tmp):
            sqlite = f"sqlite:///{tmp / 'anomaly.db'}"
            with loaded_database(tmp, name, url if name != "sqlite" else sqlite, packages) as (db_url, args):
                runs, peaks = [], []
                for round_no in range(ROUNDS):
                    seconds, peak = model_run(db_url, args)
                    runs.append(seconds)
                    peaks.append(peak)
                    print(f"# {name} round {round_no + 1}: model {seconds:.1f} s, peak {peak:.0f} MiB, "
                          f"full scan {full_scan(db_url):.2f} s", flush=True)
                seconds, peak = statistics.median(runs), max(peaks)
                print(f"RESULT anomaly {name} value={seconds:.1f} unit=s limit={SECONDS_LIMIT:.1f} "
                      f"ratio={SECONDS_LIMIT / seconds:.3f}", flush=True)
                print(f"RESULT anomaly-memory {name} value={peak:.0f} unit=MiB limit={MEMORY_LIMIT_MIB:.1f} "
                      f"ratio={MEMORY_LIMIT_MIB / peak:.3f}", flush=True)


if __name__ == "__main__":
    main()
