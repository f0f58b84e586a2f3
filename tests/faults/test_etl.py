"""kill -9 of ``ncms etl`` at seeded moments, then the same command again: the county's
database (MariaDB, a vendor's tables filled from a synthetic province) is in the province
exactly once, the watermarks stand where a clean run leaves them, no batch is left
``loading`` and no work folder is left behind."""
from __future__ import annotations

import os
import shutil
from collections import Counter
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa

from ncms.models import Watermark

from ..conftest import CONFIG_DIR
from ..packages import county_database
from .conftest import Province
from .harness import Campaign, fault_seeds, kill_time, ncms, run_and_kill, run_to_end, timed
from .state import (assert_batches_true, assert_nothing_left, assert_receipts_for_batches, assert_records_once,
                    batches, source_keys)

COUNTY = "520121"  # vendor A
WINDOW = 300  # rows per extract window: about ten batches, so kills fall between and inside them


def test_a_killed_extraction_rerun_leaves_the_county_once(province: Province, mariadb_url: str,
                                                          tmp_path: Path) -> None:
    frames = county_database(mariadb_url, COUNTY, seed=5, claims=6000)
    expected = source_keys(frames, county=COUNTY)
    env = dict(os.environ, **{f"NCMS_SOURCE_{COUNTY}": mariadb_url})
    province = replace(province, config_dir=_small_windows(tmp_path / "config"))

    clean = province.data_dir("clean")
    duration = timed(ncms(province.args(clean), "etl", COUNTY), "a clean extraction", env)
    _check(province, clean, expected, "the clean run")
    marks = _watermarks(province)
    assert marks and len(batches(province.engine)) > 3, f"the clean run made too few windows to kill: {marks}"

    campaign = Campaign("etl (kill -9 of ncms etl, then ncms etl again)", duration)
    for seed in fault_seeds():
        def body(seed: int = seed) -> str:
            province.reset()
            data_dir = province.data_dir(f"seed-{seed}")
            args = ncms(province.args(data_dir), "etl", COUNTY)
            kill = run_and_kill(args, kill_time(seed, duration), data_dir / "killed.log", env)
            hit = ("the run had ended" if not kill.killed else ", ".join(
                f"{n} {s}" for s, n in sorted(Counter(b.status.value for b in batches(province.engine)).items()))
                or "no batch yet")
            where = f"seed {seed}, {kill} ({hit})"
            run_to_end(args, f"{where}: the rerun", env)
            _check(province, data_dir, expected, where)
            now = _watermarks(province)
            assert now == marks, f"{where}: watermarks {now}, a clean run leaves {marks}"
            return f"{kill}: {hit}"

        campaign.run(seed, body)
    campaign.check()


def _small_windows(folder: Path) -> Path:
    shutil.copytree(CONFIG_DIR, folder)
    mapping = folder / "mappings" / f"{COUNTY}.yaml"
    text = mapping.read_text(encoding="utf-8")
    assert "chunk_rows: 200000" in text, "the vendor-A mapping no longer says chunk_rows: 200000"
    mapping.write_text(text.replace("chunk_rows: 200000", f"chunk_rows: {WINDOW}"), encoding="utf-8")
    return folder


def _check(province: Province, data_dir: Path, expected, where: str) -> None:  # type: ignore[no-untyped-def]
    assert_records_once(province.engine, expected, where, county=COUNTY)
    assert_batches_true(province.engine, where)
    assert_receipts_for_batches(province.engine, data_dir, where)
    assert_nothing_left(data_dir, where)


def _watermarks(province: Province) -> dict[str, str]:
    with province.engine.connect() as conn:
        return dict(conn.execute(sa.select(Watermark.stream, Watermark.value)
                                 .where(Watermark.county_code == COUNTY)).all())
