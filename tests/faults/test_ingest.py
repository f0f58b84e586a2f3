"""kill -9 of ``ncms ingest`` at seeded moments, then the same command again: every record of
a small synthetic province once, every package with a batch, its archive copy and its
receipt, no batch left ``loading``, no work folder or package left behind.

Even seeds take the packages from the spool inboxes (``ncms ingest --inbox``, as after the
gateway); odd seeds name the package files (``ncms ingest FILE…``, as an operator would),
and the rerun refuses those loaded already."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import polars as pl

from ncms.models import BatchStatus
from ncms.reference import read_reference
from ncms.synth import generate, write_packages

from ..conftest import CONFIG_DIR
from .conftest import Province, deliver
from .harness import Campaign, Kill, fault_seeds, kill_time, ncms, run_and_kill, run_to_end, timed
from .state import (assert_batches_true, assert_delivered, assert_nothing_left, assert_receipts_for_batches,
                    assert_records_once, batch_rows, batches, sha256_of, source_keys)

CLAIMS = 1500  # of the province; its three gateway counties' 12 packages hold about 4,000 rows
COUNTIES = ["520122", "520322", "520422"]


def test_a_killed_ingest_rerun_loads_every_package_once(province: Province, tmp_path: Path) -> None:
    synthetic = generate(read_reference(CONFIG_DIR), seed=11, claims=CLAIMS)
    packages = sorted(write_packages(synthetic, tmp_path / "packages", counties=COUNTIES))
    expected = source_keys({record_type: frame.filter(pl.col("county_code").is_in(COUNTIES))
                            for record_type, frame in synthetic.frames.items() if "county_code" in frame.columns})
    shas = {sha256_of(p): p.name for p in packages}

    def command(data_dir: Path, seed: int) -> list[str]:
        if seed % 2:
            return ncms(province.args(data_dir), "ingest", *map(str, packages))
        deliver(packages, data_dir)
        return ncms(province.args(data_dir), "ingest", "--inbox")

    clean = province.data_dir("clean")
    duration = timed(command(clean, 0), "a clean ingest")
    written = _check(province, clean, expected, shas, "the clean run")
    reference = {sha: written[batch.id] for sha, batch in assert_delivered(province.engine, clean, shas, "").items()}

    campaign = Campaign("ingest (kill -9 of ncms ingest, then ncms ingest again)", duration)
    for seed in fault_seeds():
        def body(seed: int = seed) -> str:
            province.reset()
            data_dir = province.data_dir(f"seed-{seed}")
            args = command(data_dir, seed)
            kill = run_and_kill(args, kill_time(seed, duration), data_dir / "killed.log")
            hit = _what_it_hit(province, kill)
            where = f"seed {seed} ({'ingest FILE…' if seed % 2 else 'ingest --inbox'}), {kill} ({hit})"
            run_to_end(args, f"{where}: the rerun")  # a package loaded already is no failure: exit 0
            refused = {(b.filename, b.error_code) for b in batches(province.engine)
                       if b.status is BatchStatus.REJECTED and b.error_code != "already_loaded"}
            assert not refused, f"{where}: valid packages refused: {sorted(refused)[:4]}"
            written = _check(province, data_dir, expected, shas, where)
            last = assert_delivered(province.engine, data_dir, shas, where)
            wrong = {shas[sha]: (written.get(b.id, 0), reference[sha]) for sha, b in last.items()
                     if written.get(b.id, 0) != reference[sha]}
            assert not wrong, f"{where}: rows held by each package's batch (now, clean run) differ: {wrong}"
            return f"{kill}: {hit}"

        campaign.run(seed, body)
    campaign.check()


def _check(province: Province, data_dir: Path, expected, shas, where: str) -> dict[int, int]:  # type: ignore[no-untyped-def]
    assert_records_once(province.engine, expected, where)
    assert_batches_true(province.engine, where)
    assert_delivered(province.engine, data_dir, shas, where)
    assert_receipts_for_batches(province.engine, data_dir, where)
    assert_nothing_left(data_dir, where)
    return batch_rows(province.engine)


def _what_it_hit(province: Province, kill: Kill) -> str:
    """The batches as the kill left them: how far the run had come."""
    if not kill.killed:
        return "the run had ended"
    statuses = Counter(b.status.value for b in batches(province.engine))
    return ", ".join(f"{n} {status}" for status, n in sorted(statuses.items())) or "no batch yet"
