"""The inbox handoff takes a package out of the inbox before it reads it: a package sent
again under the same name while the first loads is a delivery of its own, two runs never
load one package twice, and a package a killed run had taken is loaded by the next run —
once. SQLite and PostgreSQL; the killed runs are real processes."""
from __future__ import annotations

import os
import threading

import pytest
import sqlalchemy as sa

from ncms.db import session_scope
from ncms.ingest import inbox, pipeline
from ncms.ingest.archive import sha256_file
from ncms.ingest.inbox import TAKEN, ingest_inbox
from ncms.ingest.recovery import stuck_batches
from ncms.models import Batch, BatchStatus, Claim

from .crash import stopped_ncms, wait_until_dead
from .packages import COUNTY, basic, claim, items


@pytest.fixture
def inbox_dir(settings):  # type: ignore[no-untyped-def]
    folder = settings.spool_dir / COUNTY / "inbox"
    folder.mkdir(parents=True)
    return folder


def deliver(package, inbox_dir, name: str = "X.zip"):  # type: ignore[no-untyped-def]
    """As the gateway does: the complete upload (and its checksum) renamed onto its inbox name."""
    sidecar = package.with_name(package.name + ".sha256")
    sidecar.write_text(f"{sha256_file(package)}  {name}\n")
    os.replace(package, inbox_dir / name)
    os.replace(sidecar, inbox_dir / (name + ".sha256"))


def second_package(path):  # type: ignore[no-untyped-def]
    """Another package of the county: a correction of C1 and a new claim C3."""
    return basic(path, seq=2, members=None, enrolments=None, financing=None,
                 claims=[claim("C1", total_amount="31.00"), claim("C3")],
                 claim_items=items("C1", "31.00") + items("C3", "30.00"))


def batches(engine):  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return s.execute(sa.select(Batch.sha256, Batch.status, Batch.filename, Batch.id).order_by(Batch.id)).all()


def claims(engine) -> set[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return set(conn.scalars(sa.select(Claim.source_id)))


def receipts(settings) -> list:  # type: ignore[no-untyped-def]
    return sorted((settings.spool_dir / COUNTY / "outbox").glob("receipt-*.json"))


def test_a_package_sent_again_under_its_name_while_the_first_is_read_gets_its_own_batch(
        settings, loaded_engine, inbox_dir, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    a, b = basic(tmp_path / "a" / "X.zip"), second_package(tmp_path / "b" / "X.zip")
    sha_a, sha_b = sha256_file(a), sha256_file(b)
    deliver(a, inbox_dir)
    real = pipeline._Loader.stage_file
    sent = []

    def while_a_is_read(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not sent:
            assert not (inbox_dir / "X.zip").exists(), "A is read from the inbox itself"
            deliver(b, inbox_dir)
            sent.append(b)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pipeline._Loader, "stage_file", while_a_is_read)
    assert [r.status for r in ingest_inbox(loaded_engine, settings)] == [BatchStatus.LOADED]
    assert sent and sha256_file(inbox_dir / "X.zip") == sha_b  # B waits in the inbox, unread

    assert [r.status for r in ingest_inbox(loaded_engine, settings)] == [BatchStatus.LOADED]
    assert [(sha, name) for sha, _, name, _ in batches(loaded_engine)] == [(sha_a, "X.zip"), (sha_b, "X.zip")]
    for sha in (sha_a, sha_b):
        assert (settings.archive_dir / sha[:2] / f"{sha}.zip").is_file()
    assert len(receipts(settings)) == 2
    assert claims(loaded_engine) == {"C1", "C2", "C3"}
    assert list(inbox_dir.iterdir()) == []
    assert list((settings.spool_dir / COUNTY / TAKEN).iterdir()) == []


def test_two_runs_racing_for_the_inbox_load_each_package_once(settings, loaded_engine, inbox_dir, tmp_path,
                                                              monkeypatch):  # type: ignore[no-untyped-def]
    other = settings.spool_dir / "520422" / "inbox"
    other.mkdir(parents=True)
    deliver(basic(tmp_path / "p1.zip"), inbox_dir, "p1.zip")
    deliver(second_package(tmp_path / "p2.zip"), inbox_dir, "p2.zip")
    deliver(basic(tmp_path / "q1.zip", county="520422"), other, "q1.zip")
    both_listed = threading.Barrier(2, timeout=60)
    real = inbox.inbox_packages

    def listed_by_both(*args, **kwargs):  # type: ignore[no-untyped-def]
        found = real(*args, **kwargs)
        both_listed.wait()  # each run has seen all three packages before either takes one
        return found

    monkeypatch.setattr(inbox, "inbox_packages", listed_by_both)
    one_writer, load = threading.Lock(), inbox.ingest_package

    def loaded_one_at_a_time(*args, **kwargs):  # type: ignore[no-untyped-def]
        with one_writer:  # what is raced for here is the package, not SQLite's single writer
            return load(*args, **kwargs)

    monkeypatch.setattr(inbox, "ingest_package", loaded_one_at_a_time)
    results: list = []
    runs = [threading.Thread(target=lambda: results.append(ingest_inbox(loaded_engine, settings, jobs=1)))
            for _ in range(2)]
    for run in runs:
        run.start()
    for run in runs:
        run.join(120)
    assert sorted(len(r) for r in results) in ([0, 3], [1, 2])  # each package went to one run
    assert sorted(name for _, _, name, _ in batches(loaded_engine)) == ["p1.zip", "p2.zip", "q1.zip"]
    assert {status for _, status, _, _ in batches(loaded_engine)} == {BatchStatus.LOADED}


def test_a_package_a_killed_run_had_taken_is_loaded_by_the_next_run(cli, settings, inbox_dir, tmp_path):
    # type: ignore[no-untyped-def]
    assert cli("db", "upgrade").exit_code == 0 and cli("db", "load-config").exit_code == 0
    deliver(basic(tmp_path / "X.zip"), inbox_dir)
    taken = settings.spool_dir / COUNTY / TAKEN
    with stopped_ncms(settings, "load", "ingest", "--inbox") as child:
        assert list(inbox_dir.iterdir()) == []
        [claim_dir] = taken.iterdir()
        assert sorted(p.name for p in claim_dir.iterdir()) == [".lock", "X.zip", "X.zip.sha256"]
        assert f"-{child.pid}-" in claim_dir.name
        assert "0 package(s) taken" in cli("ingest", "--inbox").output  # a live run's claim is its own
        assert claim_dir.exists()
    from ncms.db import create_engine

    engine = create_engine(settings.database_url)
    try:
        wait_until_dead(engine, settings)
        run = cli("ingest", "--inbox")
        assert run.exit_code == 0, run.output
        assert "was left loading by pid" in run.output and "1 package(s) taken" in run.output
        assert [status for _, status, _, _ in batches(engine)] == [BatchStatus.FAILED, BatchStatus.LOADED]
        assert claims(engine) == {"C1", "C2"}
        assert list(taken.iterdir()) == [] and list(inbox_dir.iterdir()) == []
        assert stuck_batches(engine, settings) == []
    finally:
        engine.dispose()


def test_a_run_killed_after_recording_the_batch_does_not_load_the_package_again(cli, settings, inbox_dir,
                                                                                 tmp_path):
    # type: ignore[no-untyped-def]
    assert cli("db", "upgrade").exit_code == 0 and cli("db", "load-config").exit_code == 0
    deliver(basic(tmp_path / "X.zip"), inbox_dir)
    with stopped_ncms(settings, "finish!", "ingest", "--inbox"):
        pass
    taken = settings.spool_dir / COUNTY / TAKEN
    assert len(list(taken.iterdir())) == 1  # died holding the claim of a recorded batch
    for receipt in receipts(settings):
        receipt.unlink()  # as if it died before writing the receipt, too
    run = cli("ingest", "--inbox")
    assert run.exit_code == 0 and "1 package(s) taken" in run.output
    from ncms.db import create_engine

    engine = create_engine(settings.database_url)
    try:
        assert [status for _, status, _, _ in batches(engine)] == [BatchStatus.LOADED]
    finally:
        engine.dispose()
    assert len(receipts(settings)) == 1
    assert list(taken.iterdir()) == []
