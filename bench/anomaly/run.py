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

0. First, the evaluation (``ncms monitor evaluate``, the default model, seeds 1-3, 80,000
   claims each: township centres of 12-200 stays a year, county hospitals of 80-270; twelve
   labelled institutions, two of each pattern): the table per pattern and size, worst of the
   three seeds, and its floors as RESULT lines: the lowest ROC AUC and recall of any pattern or
   size (limit 0.95 and 0.9, ratio value/limit), the clean windows flagged (limit 1 %, ratio
   limit/value) and the busiest clean township centres flagged (limit 0).
   ``NCMS_BENCH_EVALUATE=only`` stops after it; ``0`` leaves it out.
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
EVALUATE = os.environ.get("NCMS_BENCH_EVALUATE", "1")
ROUNDS = int(os.environ.get("NCMS_BENCH_ROUNDS", "3"))
SECONDS_LIMIT, MEMORY_LIMIT_MIB = 60.0, 2048.0


def model_run(url: str, args: list[str]) -> tuple[float, float]:
    """The model's run from no findings: its own seconds, and the child's peak memory (MiB)."""
    engine = create_engine(url)
    forget_findings(engine)
    engine.dispose()
    done = ncms(args, "monitor", "run", "--rule", "institution_anomaly")
    print("\n".join("#   " + line for line in done.stdout.splitlines()[-3:]))
    seconds = float(re.search(r"^run \S+: .*, ([0-9.]+) s$", done.stdout, re.M).group(1))  # run …: …, 12.2 s
    peak = int(re.search(r"PEAK_KIB (\d+)", done.stderr).group(1)) / 1024
    return seconds, peak


def evaluation(tmp: Path) -> None:
    """The model's evaluation, worst of three seeds, and its floors."""
    from ncms.cli.monitor import evaluation_table
    from ncms.config import load_settings
    from ncms.monitor.evaluate import evaluate

    settings = load_settings({}, data_dir=str(tmp / "var"), config_dir=str(ROOT / "config"))
    with Timer() as took:
        report = evaluate(settings, (1, 2, 3), progress=lambda line: print(f"# {line}", flush=True))
    print(f"# ncms monitor evaluate --seed 1 --seed 2 --seed 3 ({took.seconds:.0f} s)")
    print("\n".join(evaluation_table(report)), flush=True)
    groups = [g for name, g in report["groups"].items() if not name.startswith("pattern / size")]
    auc = min(g["roc_auc"] for g in groups if g["roc_auc"] is not None)
    recall = min(g["recall"] for g in groups if g["recall"] is not None)
    summary = report["summary"][report["method"]]
    print(f"RESULT anomaly-auc evaluation value={auc:.3f} unit=auc limit=0.95 ratio={auc / 0.95:.3f}")
    print(f"RESULT anomaly-recall evaluation value={recall:.3f} unit=recall limit=0.9 ratio={recall / 0.9:.3f}")
    rate = summary["clean_flag_rate"]
    print(f"RESULT anomaly-clean-flagged evaluation value={rate:.4f} unit=share limit=0.01 "
          f"ratio={0.01 / rate if rate else float('inf'):.3f}")
    print(f"RESULT anomaly-busiest-flagged evaluation value={summary['busiest_clean_townships_flagged']} "
          f"unit=institutions limit=0 ratio={'inf' if not summary['busiest_clean_townships_flagged'] else 0}",
          flush=True)


def main() -> None:
    if EVALUATE != "0":
        with tempfile.TemporaryDirectory(prefix="ncms-bench-evaluate-") as tmp_name:
            evaluation(Path(tmp_name))
    if EVALUATE == "only":
        return
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
