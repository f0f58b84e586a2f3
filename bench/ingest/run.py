"""Ingestion throughput against the machine's raw load limit, on SQLite and PostgreSQL.

1. The synthetic province (1 million claims by default, NCMS_BENCH_CLAIMS to change) is
   written as packages, one per county and year.
2. Raw limit: the same rows, already in memory, loaded with no validation and no mapping
   into tables with the same unique keys — PostgreSQL ``COPY``, SQLite a bare
   ``executemany`` insert.
3. End to end: ``ncms ingest`` of every package in a child process (archive, read,
   transcode, validate, stage, check, upsert, bookkeeping, receipts), from an empty
   migrated database; its peak memory is the child's peak resident set size.
4. Raw and end to end take turns NCMS_BENCH_ROUNDS times (3); the medians are compared.

Prints ``RESULT ingest <db> value=<rows/s> …`` and ``RESULT ingest-memory <db> value=<MiB> …``.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import CHILD, ROOT, Timer, databases, fresh_schema, raw_load, result  # noqa: E402

from ncms import migrate  # noqa: E402
from ncms.db import create_engine  # noqa: E402
from ncms.exchange.schemas import RECORD_SCHEMAS  # noqa: E402
from ncms.reference import read_reference  # noqa: E402
from ncms.synth import generate, write_packages  # noqa: E402

CLAIMS = int(os.environ.get("NCMS_BENCH_CLAIMS", "1000000"))
MEMORY_LIMIT_MIB = 1024
ROUNDS = int(os.environ.get("NCMS_BENCH_ROUNDS", "3"))

def end_to_end(url: str, packages: list[Path], data_dir: Path) -> tuple[float, float]:
    """Seconds and peak MiB of `ncms ingest` over every package, in a child process that
    reports its own peak resident set size."""
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    args = ["--data-dir", str(data_dir), "--database-url", url, "--config-dir", str(ROOT / "config")]
    subprocess.run([sys.executable, "-c", CHILD, *args, "db", "load-config"], check=True, capture_output=True)
    with Timer() as timer:
        done = subprocess.run([sys.executable, "-c", CHILD, *args, "ingest", *map(str, packages)],
                              capture_output=True, text=True)
    peak = [line for line in done.stderr.splitlines() if line.startswith("PEAK_KIB ")]
    if done.returncode != 0 or not peak:
        sys.exit(f"ingest failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    print("\n".join(line for line in done.stdout.splitlines() if "batch" in line))
    return timer.seconds, int(peak[-1].split()[1]) / 1024


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ncms-bench-") as tmp_name:
        tmp = Path(tmp_name)
        with Timer() as gen:
            province = generate(read_reference(ROOT / "config"), seed=1, claims=CLAIMS, years=(2011,))
        frames = {k: v for k, v in province.frames.items() if k in RECORD_SCHEMAS}
        rows = sum(f.height for f in frames.values())
        packages = write_packages(province, tmp / "packages", months_per_package=12)
        print(f"# {frames['claim'].height} claims, {frames['claim_item'].height} items, {rows} rows in all, "
              f"{len(packages)} packages; generated in {gen.seconds:.1f} s")
        del province
        for name, url in databases(tmp):
            raws, runs = [], []
            for round_no in range(ROUNDS):  # raw and end to end take turns: single runs vary a lot
                sqlite = f"sqlite:///{tmp / f'{name}-{round_no}'}"
                with fresh_schema(url if name != "sqlite" else f"{sqlite}-raw.db") as raw_url:
                    raws.append(raw_load(raw_url, frames))
                with fresh_schema(url if name != "sqlite" else f"{sqlite}-e2e.db") as e2e_url:
                    runs.append(end_to_end(e2e_url, packages, tmp / f"var-{name}-{round_no}"))
                print(f"# {name} round {round_no + 1}: raw load {raws[-1]:.1f} s, end to end {runs[-1][0]:.1f} s, "
                      f"peak {runs[-1][1]:.0f} MiB", flush=True)
            seconds, raw_seconds = statistics.median(r[0] for r in runs), statistics.median(raws)
            result("ingest", name, rows / seconds, "rows/s", rows / raw_seconds)
            result("ingest-memory", name, max(r[1] for r in runs), "MiB", MEMORY_LIMIT_MIB)

if __name__ == "__main__":
    main()
