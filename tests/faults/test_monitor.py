"""kill -9 of ``ncms monitor run`` at seeded moments, then the same command again: the findings
are exactly those of a run never killed, one per rule and subject, each raised once in its
history, and no incremental scope is left behind. Even seeds kill a first run (no findings
yet); odd seeds kill a rerun over the findings of the one before."""
from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from ncms.models import Finding, MonitorScope, MonitorScopeClaim
from ncms.reference import read_reference
from ncms.synth import generate, write_packages

from ..conftest import CONFIG_DIR
from .conftest import Province
from .harness import Campaign, fault_seeds, kill_time, ncms, run_and_kill, run_to_end, timed
from .state import assert_findings_once, findings

CLAIMS = 3000  # a few dozen findings over most rule families and the anomaly model


def test_a_killed_monitor_rerun_files_each_finding_once(province: Province, tmp_path: Path) -> None:
    synthetic = generate(read_reference(CONFIG_DIR), seed=3, claims=CLAIMS)
    packages = sorted(write_packages(synthetic, tmp_path / "packages"))
    data_dir = province.data_dir("province")
    run_to_end(ncms(province.args(data_dir), "ingest", *map(str, packages)), "loading the province")
    before = province.counts()
    command = ncms(province.args(data_dir), "monitor", "run")

    duration = timed(command, "a clean monitor run")
    reference = findings(province.engine)
    assert reference, "the clean run found nothing: nothing to lose or duplicate"
    written = {name for name, n in province.counts().items() if n != before[name]}  # the monitor's tables

    campaign = Campaign("monitor (kill -9 of ncms monitor run, then ncms monitor run again)", duration)
    for seed in fault_seeds():
        def body(seed: int = seed) -> str:
            if seed % 2 == 0:
                province.reset(only=written)
            at_start = sum(findings(province.engine).values())
            kill = run_and_kill(command, kill_time(seed, duration), data_dir / f"killed-{seed}.log")
            held = sum(findings(province.engine).values())
            hit = (f"{'first run' if seed % 2 == 0 else 'rerun'}: {at_start} findings before, {held} at the kill"
                   if kill.killed else "the run had ended")
            where = f"seed {seed}, {kill} ({hit})"
            run_to_end(command, f"{where}: the rerun")
            count = assert_findings_once(province.engine, reference, where)
            with province.engine.connect() as conn:
                scopes = [conn.scalar(sa.select(sa.func.count()).select_from(t)) for t in (MonitorScope, MonitorScopeClaim)]
            assert not any(scopes), f"{where}: incremental scope rows left: {scopes}"
            return f"{kill}: {hit}; {count} findings after the rerun"

        campaign.run(seed, body)
    campaign.check()
    with province.engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Finding)) == sum(reference.values())
