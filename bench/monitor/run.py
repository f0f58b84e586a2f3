"""The rule catalogue over a 1-million-claim province against one full scan, on SQLite and PostgreSQL.

1. The synthetic province (NCMS_BENCH_CLAIMS, default 1,000,000 claims) is loaded with
   ``ncms ingest`` into an empty database (not timed).
2. Limit: one full scan of the claims and items tables (a SELECT summing a column of each).
3. The whole catalogue (``ncms monitor run``) in a child process, from no findings.
4. Scan and catalogue take turns NCMS_BENCH_ROUNDS times (3); the medians are compared.
   The floor: the catalogue within 20 scans, i.e. ratio = scan seconds x 20 / catalogue
   seconds at least 1.

Prints ``RESULT monitor <db> value=<catalogue s> unit=s limit=<20 scans, s> ratio=<limit/value>``.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import CHILD, ROOT, Timer, databases, fresh_schema  # noqa: E402

from ncms import migrate  # noqa: E402
from ncms.db import create_engine  # noqa: E402
from ncms.reference import read_reference  # noqa: E402
from ncms.synth import generate, write_packages  # noqa: E402

CLAIMS = int(os.environ.get("NCMS_BENCH_CLAIMS", "1000000"))
ROUNDS = int(os.environ.get("NCMS_BENCH_ROUNDS", "3"))
SCANS = 20  # the floor: the catalogue within 20 full scans


def ncms(args: list[str], *command: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", CHILD, *args, *command], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"ncms {' '.join(command)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def full_scan(url: str) -> float:
    engine = create_engine(url)
    with Timer() as timer, engine.connect() as conn:
        conn.execute(sa.text("SELECT sum(total_amount) FROM claim")).scalar()
        conn.execute(sa.text("SELECT sum(amount) FROM claim_item")).scalar()
    engine.dispose()
    return timer.seconds


def catalogue(url: str, args: list[str]) -> float:
    engine = create_engine(url)
    with engine.begin() as conn:  # from no findings, each round
        conn.execute(sa.text("DELETE FROM finding_event"))
        conn.execute(sa.text("DELETE FROM finding"))
    engine.dispose()
    with Timer() as timer:
        done = ncms(args, "monitor", "run")
    print("\n".join("#   " + line for line in done.stdout.splitlines()[-24:]))
    return timer.seconds


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="ncms-bench-monitor-") as tmp_name:
        tmp = Path(tmp_name)
        with Timer() as gen:
            province = generate(read_reference(ROOT / "config"), seed=1, claims=CLAIMS, years=(2011,))
            packages = write_packages(province, tmp / "packages", months_per_package=12)
        print(f"# {province.frames['claim'].height} claims, {province.frames['claim_item'].height} items; "
              f"generated in {gen.seconds:.1f} s", flush=True)
        del province
        for name, url in databases(tmp):
            with fresh_schema(url if name != "sqlite" else f"sqlite:///{tmp / 'monitor.db'}") as db_url:
                engine = create_engine(db_url)
                migrate.upgrade(engine)
                engine.dispose()
                args = ["--data-dir", str(tmp / f"var-{name}"), "--database-url", db_url,
                        "--config-dir", str(ROOT / "config")]
                ncms(args, "db", "load-config")
                with Timer() as load:
                    ncms(args, "ingest", *map(str, packages))
                print(f"# {name}: loaded in {load.seconds:.1f} s", flush=True)
                scans, runs = [], []
                for round_no in range(ROUNDS):
                    scans.append(full_scan(db_url))
                    runs.append(catalogue(db_url, args))
                    print(f"# {name} round {round_no + 1}: full scan {scans[-1]:.2f} s, catalogue {runs[-1]:.1f} s",
                          flush=True)
                seconds, limit = statistics.median(runs), SCANS * statistics.median(scans)
                print(f"RESULT monitor {name} value={seconds:.1f} unit=s limit={limit:.1f} ratio={limit / seconds:.3f}",
                      flush=True)


if __name__ == "__main__":
    main()
