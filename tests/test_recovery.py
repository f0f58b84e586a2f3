"""After a crash: a batch whose loader was killed does not stay ``loading`` forever, its work
folder does not stay behind, and ``ncms ingest status`` shows it in the meantime — while a
batch another process is loading right now is left alone. Real processes, killed with
SIGKILL; SQLite and PostgreSQL."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from ncms.db import create_engine, session_scope
from ncms.ingest import ingest_package, pipeline
from ncms.ingest.recovery import LOADER_DIED, recover, stuck_batches
from ncms.models import Batch, BatchSource, BatchStatus, Claim
from ncms.models.base import utcnow

from .crash import stopped_ncms, wait_until_dead
from .packages import COUNTY, basic


@pytest.fixture
def province(cli, settings):  # type: ignore[no-untyped-def]
    assert cli("db", "upgrade").exit_code == 0 and cli("db", "load-config").exit_code == 0
    engine = create_engine(settings.database_url)
    yield engine
    engine.dispose()


def _work_of(settings, pid: int) -> list:  # type: ignore[no-untyped-def]
    return [p for p in (settings.data_dir / "work").glob(f"*-{pid}-*") if p.is_dir()]


def _receipt(settings, batch_id: int) -> dict | None:  # type: ignore[no-untyped-def,type-arg]
    found = list((settings.spool_dir / COUNTY / "outbox").glob(f"receipt-*-batch{batch_id}.json"))
    return json.loads(found[0].read_text(encoding="utf-8")) if found else None


def test_a_killed_loader_s_batch_is_failed_by_the_next_run_and_a_live_one_is_left_alone(
        cli, settings, province, tmp_path):  # type: ignore[no-untyped-def]
    first = basic(tmp_path / "p1.zip")
    with stopped_ncms(settings, "load", "ingest", str(first), "--county", COUNTY) as child:
        status = cli("ingest", "status")
        assert "batches loading: 1" in status.output and f"pid {child.pid} on" in status.output
        assert status.output.rstrip().endswith("alive")
        assert recover(province, settings).failed == []  # it is being loaded: not touched
        assert _work_of(settings, child.pid), "the loader works in a folder of its own"
        [live] = stuck_batches(province, settings)
        assert live.alive and live.filename == "p1.zip" and live.owner["pid"] == child.pid
    wait_until_dead(province, settings)
    assert "dead: the next" in cli("ingest", "status").output
    assert _work_of(settings, child.pid), "a killed run cleans nothing up"

    run = cli("ingest", str(basic(tmp_path / "p2.zip", seq=2)), "--county", COUNTY)
    assert run.exit_code == 0, run.output
    assert f"batch {live.batch_id} ({COUNTY} p1.zip) was left loading by pid {child.pid}" in run.output
    with session_scope(province) as s:
        batch = s.get(Batch, live.batch_id)
        assert batch.status == BatchStatus.FAILED and batch.error_code == LOADER_DIED
        assert f"pid {child.pid}" in batch.error and batch.finished_at is not None
    receipt = _receipt(settings, live.batch_id)
    assert receipt and receipt["status"] == "failed" and "need not send it again" in receipt["error"]
    assert _work_of(settings, child.pid) == []
    assert "batches loading" not in cli("ingest", "status").output
    assert cli("ingest", str(first), "--county", COUNTY).exit_code == 0  # loaded again, once
    with province.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Claim)) == 2


def test_ncms_etl_fails_the_batches_of_killed_loaders_before_it_extracts(cli, settings, province, tmp_path,
                                                                         monkeypatch):  # type: ignore[no-untyped-def]
    with stopped_ncms(settings, "load", "ingest", str(basic(tmp_path / "p1.zip")), "--county", COUNTY):
        pass
    wait_until_dead(province, settings)
    monkeypatch.delenv("NCMS_SOURCE_520121", raising=False)
    run = cli("etl", "520121")  # no county database configured: recovery still comes first
    assert "was left loading by pid" in run.output
    with province.connect() as conn:
        assert conn.scalar(sa.select(Batch.status)) == BatchStatus.FAILED


def test_batches_with_no_live_lock_are_dead_and_only_a_county_s_package_is_owed_a_receipt(
        settings, loaded_engine):  # type: ignore[no-untyped-def]
    with session_scope(loaded_engine) as s:  # as an older version, or a refusal being written, leaves them
        sent = Batch(county_code=COUNTY, source=BatchSource.GATEWAY, status=BatchStatus.LOADING, filename="x.zip",
                     package_seq=3, started_at=utcnow())
        extract = Batch(county_code="520121", source=BatchSource.ETL, status=BatchStatus.LOADING,
                        filename="520121-etl-claim-1.zip", started_at=utcnow())
        s.add_all([sent, extract])
    old_style = settings.data_dir / "work" / "ncms-ingest-abc123"  # a work folder with no owner's lock
    (old_style / "items").mkdir(parents=True)
    assert {b.batch_id: b.alive for b in stuck_batches(loaded_engine, settings)} == {sent.id: False, extract.id: False}
    recovery = recover(loaded_engine, settings)
    assert sorted(b.batch_id for b in recovery.failed) == [sent.id, extract.id]
    assert old_style in recovery.folders and not old_style.exists()
    assert _receipt(settings, sent.id)["status"] == "failed"
    assert not list((settings.spool_dir / "520121" / "outbox").glob(f"*batch{extract.id}.json"))
    assert recover(loaded_engine, settings).failed == []  # once


def test_a_batch_that_fails_on_an_error_of_ours_gets_a_receipt(settings, loaded_engine, tmp_path, monkeypatch):
    # type: ignore[no-untyped-def]
    def power_cut(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("power cut")

    monkeypatch.setattr(pipeline, "load_staged", power_cut)
    with pytest.raises(RuntimeError):
        ingest_package(loaded_engine, settings, basic(tmp_path / "p.zip"), sender=COUNTY)
    with session_scope(loaded_engine) as s:
        batch = s.scalar(sa.select(Batch))
        assert batch.status == BatchStatus.FAILED
    receipt = _receipt(settings, batch.id)
    assert receipt and receipt["status"] == "failed" and "power cut" in receipt["error"]
    assert stuck_batches(loaded_engine, settings) == []


def test_the_receipt_a_killed_loader_owed_is_written_by_the_next_run(cli, settings, province, tmp_path):
    # type: ignore[no-untyped-def]
    with stopped_ncms(settings, "receipt!", "ingest", str(basic(tmp_path / "p1.zip")), "--county", COUNTY) as child:
        pass
    with session_scope(province) as s:
        batch_id, status = s.execute(sa.select(Batch.id, Batch.status)).one()
    assert status == BatchStatus.LOADED and _receipt(settings, batch_id) is None  # loaded, the county not told
    run = cli("ingest", str(basic(tmp_path / "p2.zip", seq=2)), "--county", COUNTY)
    assert run.exit_code == 0 and f"batch {batch_id}: wrote the receipt" in run.output
    assert _receipt(settings, batch_id)["status"] == "loaded"
    assert _work_of(settings, child.pid) == []


def test_the_airflow_etl_task_fails_the_batches_of_killed_loaders_first(cli, settings, province, tmp_path,
                                                                        monkeypatch):  # type: ignore[no-untyped-def]
    from ncms import jobs

    with stopped_ncms(settings, "load", "ingest", str(basic(tmp_path / "p1.zip")), "--county", COUNTY):
        pass
    wait_until_dead(province, settings)
    for name, value in (("NCMS_DATA_DIR", settings.data_dir), ("NCMS_DATABASE_URL", settings.database_url),
                        ("NCMS_CONFIG_DIR", settings.config_dir)):
        monkeypatch.setenv(name, str(value))
    monkeypatch.delenv("NCMS_SOURCE_520121", raising=False)
    with pytest.raises(Exception, match="520121"):  # no county database configured: recovery still comes first
        jobs.etl_county("520121")
    with province.connect() as conn:
        assert conn.scalar(sa.select(Batch.status)) == BatchStatus.FAILED


def test_an_archive_copy_left_half_written_by_a_killed_run_is_removed_and_a_live_one_kept(
        settings, loaded_engine, tmp_path):  # type: ignore[no-untyped-def]
    import signal
    import subprocess
    import sys

    from ncms.ingest.archive import archive_file

    sha, archived = archive_file(basic(tmp_path / "p.zip"), settings.archive_dir)
    assert archived.is_file() and not list(settings.archive_dir.glob("*/.*.part"))
    partial = archived.with_name(f".{archived.name}.abc.part")  # a copy being written by another run
    partial.write_bytes(b"half")
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from ncms.ingest.liveness import FileLock; "
        "lock = FileLock.take(Path(sys.argv[1])); print('held', flush=True); time.sleep(60)"), str(partial)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "held"
        assert recover(loaded_engine, settings).copies == [] and partial.exists()
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
    assert recover(loaded_engine, settings).copies == [partial] and not partial.exists()
    assert archived.is_file()
