"""ETL throughput from MariaDB county databases against a bare pipeline, on SQLite and PostgreSQL.

1. A synthetic province is generated large enough that its centralised (etl) counties hold
   about 1 million claims (NCMS_BENCH_CLAIMS, the claims of those counties), and each etl
   county's records are written into its own MariaDB database in its vendor's schema
   (``ncms.synth.vendor``, GBK tables).
2. Bare pipeline: every table's rows streamed out of MariaDB with the same driver and the same
   streaming function as the ETL, renamed to the exchange columns (no translation, no
   validation) and loaded with the ingestion benchmark's raw load (PostgreSQL ``COPY``,
   SQLite bare ``executemany``) into tables with the same unique keys, all TEXT columns,
   since vendor values fit no exchange type.
3. ETL: ``ncms etl --all`` in a child process, from an empty migrated database (windows,
   translation, packages, validation, load, receipts, watermarks); its peak memory.
4. Incremental: ``ncms etl COUNTY`` for each county with nothing new, the whole command.
5. Bare and ETL take turns NCMS_BENCH_ROUNDS times (3); the medians are compared.

Prints ``RESULT etl <db> value=<rows/s> …`` and ``RESULT etl-incremental <db> value=<s> …``.
MariaDB: NCMS_BENCH_MARIADB_URL (default mysql+pymysql://root@127.0.0.1:3306/test).
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import polars as pl
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import CHILD, ROOT, Timer, databases, fresh_schema, raw_load, result  # noqa: E402

from ncms import migrate  # noqa: E402
from ncms.db import create_engine  # noqa: E402
from ncms.ingest.etl import source_engine, stream_frames  # noqa: E402
from ncms.ingest.mapping import CountyMapping, load_mapping  # noqa: E402
from ncms.models import DeploymentMode  # noqa: E402
from ncms.reference import read_reference  # noqa: E402
from ncms.synth import generate  # noqa: E402
from ncms.synth.vendor import write_source_db  # noqa: E402

CLAIMS = int(os.environ.get("NCMS_BENCH_CLAIMS", "1000000"))
ROUNDS = int(os.environ.get("NCMS_BENCH_ROUNDS", "3"))
MARIADB = os.environ.get("NCMS_BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
INCREMENTAL_LIMIT = 2.0  # seconds per county with nothing new


def county_databases(mappings: dict[str, CountyMapping]) -> dict[str, str]:
    """Write the etl counties' vendor databases into MariaDB; their URLs by county."""
    reference = read_reference(ROOT / "config")
    share = sum(c["agricultural_population"] for c in reference.counties if c["code"] in mappings) / \
        sum(c["agricultural_population"] for c in reference.counties)
    with Timer() as gen:
        province = generate(reference, seed=1, claims=round(CLAIMS / share), years=(2011,))
    print(f"# province of {province.frames['claim'].height} claims generated in {gen.seconds:.1f} s", flush=True)
    admin = sa.create_engine(MARIADB, isolation_level="AUTOCOMMIT")
    urls = {}
    for county, mapping in mappings.items():
        name = f"ncms_bench_{county}"
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(sa.text(f"CREATE DATABASE {name} CHARACTER SET gbk"))
        urls[county] = sa.engine.make_url(MARIADB).set(database=name).render_as_string(hide_password=False)
        engine = create_engine(urls[county])
        with Timer() as write:
            written = write_source_db(engine, mapping, province.frames)
        engine.dispose()
        print(f"# {county}: {written} written to MariaDB in {write.seconds:.1f} s", flush=True)
    admin.dispose()
    return urls


def drop_county_databases(urls: dict[str, str]) -> None:
    admin = sa.create_engine(MARIADB, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for url in urls.values():
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {sa.engine.make_url(url).database}"))
    admin.dispose()


def bare(url: str, mappings: dict[str, CountyMapping], sources: dict[str, str]) -> tuple[float, int]:
    """Seconds and rows of the bare pipeline: stream every table, rename, raw load."""
    parts: dict[str, list[pl.DataFrame]] = {}
    with Timer() as extract:
        for county, mapping in mappings.items():
            engine = source_engine(sources[county])
            for record_type, record in mapping.records.items():
                names = {f.column: name for name, f in record.fields.items() if f.column}
                columns = ", ".join(names)
                for chunk in stream_frames(engine, sa.text(f"SELECT {columns} FROM {record.table}")):
                    parts.setdefault(record_type, []).append(
                        chunk.rename(names).with_columns(county_code=pl.lit(county)))
            engine.dispose()
    frames = {rt: _exchange_columns(rt, pl.concat(chunks)) for rt, chunks in parts.items()}
    rows = sum(f.height for f in frames.values())
    load = raw_load(url, frames, typed=False)
    return extract.seconds + load, rows


def _exchange_columns(record_type: str, frame: pl.DataFrame) -> pl.DataFrame:
    from ncms.exchange.schemas import RECORD_SCHEMAS

    specs = RECORD_SCHEMAS[record_type].specs()
    return frame.select("county_code", *[pl.col(n).cast(pl.String) if n in frame.columns
                                         else pl.lit(None, pl.String).alias(n) for n in specs])


def etl_run(url: str, data_dir: Path, sources: dict[str, str]) -> tuple[float, float, int, list[float]]:
    """Seconds, peak MiB and rows read of `ncms etl --all`; then seconds of each county's
    `ncms etl` with nothing new."""
    engine = create_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    env = dict(os.environ, **{f"NCMS_SOURCE_{county}": source for county, source in sources.items()})
    args = ["--data-dir", str(data_dir), "--database-url", url, "--config-dir", str(ROOT / "config")]
    subprocess.run([sys.executable, "-c", CHILD, *args, "db", "load-config"], check=True, capture_output=True)
    with Timer() as timer:
        done = subprocess.run([sys.executable, "-c", CHILD, *args, "etl", "--all"], env=env,
                              capture_output=True, text=True)
    peak = [line for line in done.stderr.splitlines() if line.startswith("PEAK_KIB ")]
    if done.returncode != 0 or not peak:
        sys.exit(f"etl failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    summary = done.stdout.strip().splitlines()[-1]
    print(f"# {summary}")
    rows = int(summary.split(": ")[1].split(" rows read")[0].replace(",", ""))
    again = []
    for county in sources:
        with Timer() as incremental:
            nothing = subprocess.run([sys.executable, "-c", CHILD, *args, "etl", county], env=env,
                                     capture_output=True, text=True)
        if nothing.returncode != 0 or "0 batch(es)" not in nothing.stdout:
            sys.exit(f"incremental etl of {county} failed or found something:\n{nothing.stdout}\n{nothing.stderr[-2000:]}")
        again.append(incremental.seconds)
    return timer.seconds, int(peak[-1].split()[1]) / 1024, rows, again


def main() -> None:
    province = read_reference(ROOT / "config")
    mappings = {c["code"]: load_mapping(ROOT / "config", c["code"]) for c in province.counties
                if c["mode"] == DeploymentMode.ETL}
    with tempfile.TemporaryDirectory(prefix="ncms-bench-etl-") as tmp_name:
        tmp = Path(tmp_name)
        sources = county_databases(mappings)
        try:
            for name, url in databases(tmp):
                bares, runs = [], []
                for round_no in range(ROUNDS):
                    sqlite = f"sqlite:///{tmp / f'{name}-{round_no}'}"
                    with fresh_schema(url if name != "sqlite" else f"{sqlite}-bare.db") as bare_url:
                        bares.append(bare(bare_url, mappings, sources))
                    with fresh_schema(url if name != "sqlite" else f"{sqlite}-etl.db") as etl_url:
                        runs.append(etl_run(etl_url, tmp / f"var-{name}-{round_no}", sources))
                    print(f"# {name} round {round_no + 1}: bare {bares[-1][0]:.1f} s ({bares[-1][1]} rows), "
                          f"etl {runs[-1][0]:.1f} s ({runs[-1][2]} rows), peak {runs[-1][1]:.0f} MiB, "
                          f"nothing new {', '.join(f'{s:.2f}' for s in runs[-1][3])} s", flush=True)
                rows = runs[0][2]
                if any(r[2] != rows or b[1] != rows for r, b in zip(runs, bares)):
                    sys.exit(f"row counts differ between runs: {[r[2] for r in runs]} / {[b[1] for b in bares]}")
                seconds, bare_seconds = statistics.median(r[0] for r in runs), statistics.median(b[0] for b in bares)
                print(f"# peak memory of ncms etl --all: {max(r[1] for r in runs):.0f} MiB")
                result("etl", name, rows / seconds, "rows/s", rows / bare_seconds)
                result("etl-incremental", name, max(s for r in runs for s in r[3]), "s", INCREMENTAL_LIMIT)
        finally:
            drop_county_databases(sources)


if __name__ == "__main__":
    main()
