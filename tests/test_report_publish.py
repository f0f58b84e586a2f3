"""Publishing reports to the ministry, the gateway's real SFTP server standing in for it on
loopback: a link cut mid-transfer (a TCP relay that drops the connection, as a WAN does) and the
push resumed from what the server held, the checksum read back; the endpoint down (recorded,
retried with backoff, visible, nothing lost); the same report twice; a correction superseding
the report the ministry has; a different file under the package's name, a wrong host key.
The supersession and records on SQLite and PostgreSQL."""
from __future__ import annotations

import json
import os
import socket
import threading
import time
import zipfile
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from ncms.config import MinistryEndpoint
from ncms.db import session_scope
from ncms.models import ReportRun, ReportStatus
from ncms.models.report import ReportSend, SendOutcome
from reports.content import build_content
from reports.publish import PublishError, pending, publish_pending, publish_run, retry_delay
from reports.registry import recording
from reports.statistics import write_statistics

from .gateway.conftest import gateway_factory, make_key  # noqa: F401 - fixture: a live gateway
from .test_indicators import _province

MINISTRY = "ministry"  # the province's account at the ministry's server
T0 = datetime(2011, 7, 10, 2, 0, tzinfo=timezone.utc)
PDF_BYTES = 3 * 2**20  # the stand-in PDF: a package of a few MiB, so a cut falls mid-file


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Relay:
    """A TCP relay to ``port`` on loopback: the WAN between the province and the ministry. With
    ``cut_after`` it drops the first connection (both ways) once that many bytes went upstream."""

    def __init__(self, port: int, cut_after: int | None = None) -> None:
        self.target, self.cut_after = port, cut_after
        self.upstream: list[int] = []  # bytes sent to the server, per connection
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            n = len(self.upstream)
            self.upstream.append(0)
            cut = self.cut_after if n == 0 else None
            threading.Thread(target=self._pipe, args=(client, server, n, cut), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, None, None), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, counted: int | None, cut: int | None) -> None:
        try:
            while data := src.recv(65536):
                if counted is not None:
                    self.upstream[counted] += len(data)
                dst.sendall(data)
                if cut is not None and self.upstream[counted] >= cut:
                    time.sleep(0.5)  # the line stalls (the server takes in what reached it), then drops
                    break
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self) -> None:
        self.stopped.set()
        self.listener.close()


@dataclass
class Ministry:
    gateway: object
    inbox: Path
    key: Path
    known_hosts: Path

    def endpoint(self, port: int | None = None, **options) -> MinistryEndpoint:  # type: ignore[no-untyped-def]
        return MinistryEndpoint(host="127.0.0.1", port=port or self.gateway.port, user=MINISTRY, key=self.key,
                                known_hosts=self.known_hosts, remote_dir="inbox",
                                **{"retries": 3, "backoff": 0.05, "retry_after": 300, **options})

    def trust(self, port: int) -> None:
        """The ministry's host key as it is reached on ``port`` (a relay is another name for it)."""
        key = self.gateway.server.host_key
        with open(self.known_hosts, "a", encoding="ascii") as fh:
            fh.write(f"[127.0.0.1]:{port} {key.get_name()} {key.get_base64()}\n")


def _ministry(factory, tmp_path: Path, **gateway) -> Ministry:  # type: ignore[no-untyped-def]
    gw = factory(counties=(MINISTRY,), key_kinds=("ed25519",), **gateway)
    ministry = Ministry(gw, gw.county(MINISTRY) / "inbox", gw.keys[MINISTRY][0].path, tmp_path / "known_hosts")
    ministry.trust(gw.port)
    return ministry


@pytest.fixture
def ministry(gateway_factory, tmp_path):  # type: ignore[no-untyped-def]
    return _ministry(gateway_factory, tmp_path)


@pytest.fixture
def province(engine):  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        _province(s)
    return engine


def build(engine, settings, period: str = "2011-Q2", pdf: bytes | None = None) -> int:  # type: ignore[no-untyped-def]
    """A revision of the quarterly provincial report, a stand-in PDF among its files."""
    with recording(engine, settings, "quarterly", period, requested_by="test") as draft:
        (draft.folder / "report.pdf").write_bytes(pdf if pdf is not None else os.urandom(PDF_BYTES))
        with session_scope(engine) as s:
            content = build_content(s, "quarterly", period)
        write_statistics(content, draft.folder, revision=draft.revision, lang=draft.lang,
                         supersedes=draft.supersedes)
    return draft.run_id


def _run(engine, run_id: int) -> ReportRun:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return s.get(ReportRun, run_id)


def _sends(engine, run_id: int) -> list[ReportSend]:  # type: ignore[no-untyped-def]
    with session_scope(engine) as s:
        return list(s.scalars(select(ReportSend).where(ReportSend.run_id == run_id).order_by(ReportSend.attempt)))


def test_a_link_cut_mid_transfer_is_resumed_and_the_checksum_verified(province, settings, ministry) -> None:  # type: ignore[no-untyped-def]
    run_id = build(province, settings)
    package = settings.reports_dir / _run(province, run_id).folder / _run(province, run_id).package
    size = package.stat().st_size
    relay = Relay(ministry.gateway.port, cut_after=size // 3)
    ministry.trust(relay.port)
    try:
        outcome = publish_run(province, replace(settings, ministry=ministry.endpoint(relay.port)), run_id,
                              clock=Clock())
    finally:
        relay.close()
    assert outcome.outcome == SendOutcome.SENT, outcome.error
    assert len(relay.upstream) >= 3  # the cut push, its resumption, the read-back
    (send,) = _sends(province, run_id)
    # the second connection resumed where the server's copy ended, and sent only the rest
    assert size // 3 - 100_000 < send.resumed_from <= relay.upstream[0], (send.resumed_from, relay.upstream)
    assert relay.upstream[1] < size - send.resumed_from + 100_000, relay.upstream
    assert (ministry.inbox / package.name).read_bytes() == package.read_bytes()
    run = _run(province, run_id)
    assert (send.outcome, send.attempt, send.sha256, send.verified_sha256) == \
        (SendOutcome.SENT, 1, run.package_sha256, run.package_sha256)
    assert send.connections == 2 and send.remote_path == f"inbox/{package.name}" and send.finished_at == T0
    assert send.endpoint == f"{MINISTRY}@127.0.0.1:{relay.port}/inbox"
    assert run.status == ReportStatus.PUBLISHED and run.published_at == T0
    with zipfile.ZipFile(ministry.inbox / package.name) as zf:  # what the ministry unpacks
        manifest = json.loads(zf.read("manifest.json"))
        assert {f["name"] for f in manifest["files"]} | {"manifest.json"} == set(zf.namelist())
    assert (ministry.inbox / f"{package.name}.sha256").read_text().split()[0] == run.package_sha256


def test_the_endpoint_down_is_recorded_retried_with_backoff_and_nothing_is_lost(province, settings, gateway_factory,
                                                                                  tmp_path) -> None:  # type: ignore[no-untyped-def]
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    ministry = _ministry(gateway_factory, tmp_path, port=port)
    ministry.gateway.server.stop()  # the ministry's server is down: nobody listens on its port
    config = replace(settings, ministry=ministry.endpoint(retries=2, retry_after=600))
    run_id = build(province, settings)
    clock = Clock()
    first = publish_run(province, config, run_id, clock=clock)
    assert first.outcome == SendOutcome.FAILED and "gave up after 2 attempt" in first.error
    assert first.retry_at == T0 + timedelta(seconds=600)
    clock.now = T0 + timedelta(minutes=11)
    second = publish_pending(province, config, clock=clock)  # due: tried again, down again
    assert [o.outcome for o in second] == [SendOutcome.FAILED]
    assert second[0].retry_at == clock.now + timedelta(seconds=1200)  # twice as long after two in a row
    with session_scope(province) as s:
        assert pending(s, config, now=clock.now + timedelta(minutes=19)) == []  # not due yet
        assert [r.id for r in pending(s, config, now=clock.now + timedelta(minutes=20))] == [run_id]
    run = _run(province, run_id)
    assert run.status == ReportStatus.DONE and run.published_at is None  # not published...
    assert (settings.reports_dir / run.folder / run.package).is_file()  # ...and nothing lost
    assert [(s.attempt, s.outcome) for s in _sends(province, run_id)] == [(1, SendOutcome.FAILED),
                                                                       (2, SendOutcome.FAILED)]
    assert all(s.error and s.retry_at for s in _sends(province, run_id))

    ministry.gateway.restart()  # back on its port: the next due round delivers the package
    clock.now += timedelta(minutes=20)
    assert [o.outcome for o in publish_pending(province, config, clock=clock)] == [SendOutcome.SENT]
    assert (ministry.inbox / run.package).read_bytes() == (settings.reports_dir / run.folder / run.package).read_bytes()
    assert [s.outcome for s in _sends(province, run_id)] == [SendOutcome.FAILED, SendOutcome.FAILED, SendOutcome.SENT]
    assert _run(province, run_id).status == ReportStatus.PUBLISHED
    with session_scope(province) as s:
        assert pending(s, config, now=clock.now) == []


def test_sending_the_same_report_twice_is_harmless(province, settings, ministry) -> None:  # type: ignore[no-untyped-def]
    config = replace(settings, ministry=ministry.endpoint())
    run_id = build(province, settings, pdf=b"%PDF stand-in")
    assert publish_run(province, config, run_id).outcome == SendOutcome.SENT
    again = publish_run(province, config, run_id)
    assert (again.outcome, again.send_id) == (SendOutcome.ALREADY_SENT, None)  # not pushed, not recorded
    assert len(_sends(province, run_id)) == 1
    forced = publish_run(province, config, run_id, force=True)  # pushed: the server has it whole
    assert forced.outcome == SendOutcome.ALREADY_SENT and forced.send_id is not None
    sends = _sends(province, run_id)
    assert [s.outcome for s in sends] == [SendOutcome.SENT, SendOutcome.ALREADY_SENT] and sends[1].bytes_sent == 0
    package = _run(province, run_id).package
    assert sorted(p.name for p in ministry.inbox.iterdir()) == [package, f"{package}.sha256"]  # one copy
    assert publish_pending(province, config) == []


def test_a_correction_supersedes_the_report_the_ministry_has_and_says_so(province, settings, ministry) -> None:  # type: ignore[no-untyped-def]
    config = replace(settings, ministry=ministry.endpoint())
    first = build(province, settings, pdf=b"%PDF r1")
    unsent = build(province, settings, "2011-Q3", pdf=b"%PDF q3 r1")
    assert [o.run_id for o in publish_pending(province, config)] == [first, unsent]
    correction = build(province, settings, pdf=b"%PDF r2")
    with session_scope(province) as s:
        assert [r.id for r in pending(s, config)] == [correction]  # the current revision only
    publish_pending(province, config)
    old, new = _run(province, first), _run(province, correction)
    assert (new.revision, new.supersedes_id) == (2, first)
    with zipfile.ZipFile(ministry.inbox / new.package) as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["report"]["revision"] == 2
    assert manifest["supersedes"] == {"revision": 1, "package": old.package, "sha256": old.package_sha256,
                                      "generated_at": old.finished_at.isoformat().replace("+00:00", "Z"),
                                      "published_at": old.published_at.isoformat().replace("+00:00", "Z")}
    assert {old.package, new.package} <= {p.name for p in ministry.inbox.iterdir()}  # the ministry keeps both


def test_a_different_file_under_the_packages_name_fails_the_checksum(province, settings, ministry) -> None:  # type: ignore[no-untyped-def]
    run_id = build(province, settings, pdf=b"%PDF stand-in")
    run = _run(province, run_id)
    impostor = ministry.inbox / run.package
    impostor.write_bytes(os.urandom(run.package_bytes))  # as long as the package, not it
    outcome = publish_run(province, replace(settings, ministry=ministry.endpoint()), run_id, clock=Clock())
    assert outcome.outcome == SendOutcome.FAILED and "checksum after upload" in outcome.error
    (send,) = _sends(province, run_id)
    assert send.verified_sha256 != run.package_sha256 and send.retry_at == T0 + timedelta(seconds=300)
    assert _run(province, run_id).status == ReportStatus.DONE


def test_a_server_with_another_host_key_is_refused(province, settings, ministry, tmp_path) -> None:  # type: ignore[no-untyped-def]
    other = make_key(tmp_path, "not_the_ministry").pkey
    ministry.known_hosts.write_text(f"[127.0.0.1]:{ministry.gateway.port} {other.get_name()} {other.get_base64()}\n")
    run_id = build(province, settings, pdf=b"%PDF stand-in")
    outcome = publish_run(province, replace(settings, ministry=ministry.endpoint()), run_id)
    assert outcome.outcome == SendOutcome.FAILED and "refusing to connect" in outcome.error
    assert not any(ministry.inbox.iterdir())


def test_publishing_needs_an_endpoint_and_a_built_report(province, settings) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PublishError, match="NCMS_MINISTRY_HOST"):
        publish_run(province, settings, 1)
    endpoint = MinistryEndpoint(host="127.0.0.1", user=MINISTRY, key=Path("k"), known_hosts=Path("kh"))
    with pytest.raises(PublishError, match="no report run 99"):
        publish_run(province, replace(settings, ministry=endpoint), 99)
    assert retry_delay(endpoint, 1) == timedelta(minutes=5) and retry_delay(endpoint, 3) == timedelta(minutes=20)
    assert retry_delay(endpoint, 30) == timedelta(hours=6)


def test_the_publish_command_sends_what_is_pending_and_fails_in_one_line(province, settings, ministry, cli,
                                                                          monkeypatch) -> None:  # type: ignore[no-untyped-def]
    endpoint = ministry.endpoint()
    for name, value in {"HOST": "127.0.0.1", "PORT": str(endpoint.port), "USER": MINISTRY, "KEY": str(endpoint.key),
                        "KNOWN_HOSTS": str(endpoint.known_hosts), "BACKOFF": "0.05", "RETRIES": "2"}.items():
        monkeypatch.setenv(f"NCMS_MINISTRY_{name}", value)
    run_id = build(province, settings, pdf=b"%PDF stand-in")
    done = cli("report", "publish")
    assert done.exit_code == 0 and f"run {run_id}: sent, checksum verified" in done.output, done.output
    assert "nothing to publish" in cli("report", "publish").output
    assert "has it already" in cli("report", "publish", str(run_id)).output
    listed = cli("report", "list").output
    assert f"{run_id} " in listed and " sent " in listed, listed

    ministry.gateway.server.stop()
    again = cli("report", "publish", "--force", str(run_id))
    assert again.exit_code == 1 and f"run {run_id}: failed: TransferError" in again.output, again.output
    monkeypatch.delenv("NCMS_MINISTRY_HOST")
    refused = cli("report", "publish")
    assert refused.exit_code == 1 and "no ministry endpoint is configured" in refused.output


def test_the_reporting_dags_steps_build_what_the_month_owes_once_and_publish_it(province, settings, ministry,
                                                                                monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from reports import jobs

    beijing = jobs.REPORT_TIMEZONE
    assert [(k, p.label) for k, p in jobs.due_reports(datetime(2011, 5, 5, 3, tzinfo=beijing))] == [("monthly", "2011-05")]
    assert [(k, p.label) for k, p in jobs.due_reports(datetime(2011, 12, 5, 3, tzinfo=beijing))] == \
        [("monthly", "2011-12"), ("quarterly", "2011-Q4"), ("annual", "2011")]
    endpoint = ministry.endpoint()
    for name, value in {"DATABASE_URL": settings.database_url, "DATA_DIR": str(settings.data_dir),
                        "CONFIG_DIR": str(settings.config_dir), "MINISTRY_HOST": "127.0.0.1",
                        "MINISTRY_PORT": str(endpoint.port), "MINISTRY_USER": MINISTRY,
                        "MINISTRY_KEY": str(endpoint.key), "MINISTRY_KNOWN_HOSTS": str(endpoint.known_hosts),
                        "MINISTRY_BACKOFF": "0.05", "MINISTRY_RETRIES": "2"}.items():
        monkeypatch.setenv(f"NCMS_{name}", value)
    june = (datetime(2011, 6, 5, 3, tzinfo=beijing), datetime(2011, 7, 5, 3, tzinfo=beijing))  # run on 5 July
    first = jobs.build_due(*june)
    assert set(first["built"]) == {"monthly 2011-06", "quarterly 2011-Q2"} and first["present"] == {}
    assert jobs.build_due(*june) == {"built": {}, "present": first["built"]}  # a retry builds nothing twice
    assert jobs.publish_due() == {"sent": {i: "sent" for i in first["built"].values()}}
    assert {p.name for p in ministry.inbox.glob("*.zip")} == {_run(province, i).package for i in first["built"].values()}

    ministry.gateway.server.stop()
    with session_scope(province) as s:
        correction = s.get(ReportRun, first["built"]["monthly 2011-06"])
    from reports.build import build_report
    again = build_report(province, settings, "monthly", "2011-06")
    assert again.supersedes_id == correction.id
    with pytest.raises(RuntimeError, match=rf"run {again.id}: TransferError"):  # Airflow retries the task
        jobs.publish_due()
    assert [s.outcome for s in _sends(province, again.id)] == [SendOutcome.FAILED]


def test_the_ministry_endpoint_is_configured_by_file_or_variables_and_refused_half_given(tmp_path) -> None:
    from ncms.config import ConfigError, load_settings

    assert load_settings({}, cwd=tmp_path).ministry is None  # nothing published
    (tmp_path / "ncms.toml").write_text('[ncms]\nport = 8000\n\n[ministry]\nhost = "sftp.ministry.example"\n'
                                        'user = "province520000"\nkey = "keys/ministry"\nknown_hosts = "kh"\n'
                                        'port = 2022\n', encoding="utf-8")
    endpoint = load_settings({"NCMS_CONFIG_FILE": "ncms.toml", "NCMS_MINISTRY_RETRY_AFTER": "60"}, cwd=tmp_path).ministry
    assert (endpoint.host, endpoint.port, endpoint.user, endpoint.key, endpoint.known_hosts, endpoint.remote_dir,
            endpoint.retry_after) == ("sftp.ministry.example", 2022, "province520000", tmp_path / "keys/ministry",
                                      tmp_path / "kh", "inbox", 60)
    assert endpoint.label == "province520000@sftp.ministry.example:2022/inbox"
    with pytest.raises(ConfigError, match=r"NCMS_MINISTRY_HOST: .* also needs NCMS_MINISTRY_USER .*NCMS_MINISTRY_KNOWN_HOSTS"):
        load_settings({"NCMS_MINISTRY_HOST": "sftp.ministry.example", "NCMS_MINISTRY_KEY": "k"}, cwd=tmp_path)
    with pytest.raises(ConfigError, match=r"NCMS_MINISTRY_PORT: 'ssh' is not allowed"):
        load_settings({"NCMS_CONFIG_FILE": "ncms.toml", "NCMS_MINISTRY_PORT": "ssh"}, cwd=tmp_path)
    (tmp_path / "bad.toml").write_text('[ministry]\nhost = "x"\npassword = "no"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.toml:3: \[ministry\] password: no such setting"):
        load_settings({"NCMS_CONFIG_FILE": "bad.toml"}, cwd=tmp_path)
