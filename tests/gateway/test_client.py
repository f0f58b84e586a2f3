"""The county upload client against a real SFTP server on loopback (a private OpenSSH sshd)."""
from __future__ import annotations

import importlib.util
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.client import TransferError, fetch, open_sftp, push

ROOT = Path(__file__).resolve().parents[2]


def _load_sshd_helper():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_gateway_sshd", ROOT / "bench" / "gateway" / "sshd.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


sshd_helper = _load_sshd_helper()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    if os.geteuid() != 0 or not Path(sshd_helper.SSHD).exists():
        pytest.skip("needs root and /usr/sbin/sshd to run a private sshd")
    account = tmp_path_factory.mktemp("account")
    with sshd_helper.PrivateSshd(tmp_path_factory.mktemp("sshd"), root=account) as server:
        server.account = account
        yield server


@pytest.fixture
def account(sshd) -> Path:  # type: ignore[no-untyped-def]
    """The account's root as the server sees it, with empty ``inbox/`` and ``outbox/``."""
    for folder in ("inbox", "outbox"):
        shutil.rmtree(sshd.account / folder, ignore_errors=True)
        (sshd.account / folder).mkdir()
    return sshd.account


@pytest.fixture
def package(tmp_path: Path) -> Path:
    path = tmp_path / "520122-2026-11.zip"
    path.write_bytes(os.urandom(24 * 2**20 + 12345))
    return path


def _push(sshd, path: Path, **options):  # type: ignore[no-untyped-def]
    return push(path, "127.0.0.1", sshd.port, sshd.user, sshd.client_key, **options)


def test_fresh_upload_is_byte_identical(sshd, account: Path, package: Path) -> None:
    result = _push(sshd, package)
    assert (account / "inbox" / package.name).read_bytes() == package.read_bytes()
    assert (result.bytes_sent, result.resumed_from, result.attempts) == (package.stat().st_size, 0, 1)


def test_upload_resumes_from_the_remote_partial(sshd, account: Path, package: Path) -> None:
    n = 7 * 2**20 + 3
    (account / "inbox" / package.name).write_bytes(package.read_bytes()[:n])
    result = _push(sshd, package)
    assert result.resumed_from == n
    assert result.bytes_sent == package.stat().st_size - n
    assert (account / "inbox" / package.name).read_bytes() == package.read_bytes()


def test_remote_file_larger_than_local_is_an_error(sshd, account: Path, package: Path) -> None:
    remote = account / "inbox" / package.name
    bigger = os.urandom(package.stat().st_size + 1)
    remote.write_bytes(bigger)
    with pytest.raises(TransferError, match="more than"):
        _push(sshd, package, backoff=0.01)
    assert remote.read_bytes() == bigger


def test_dropped_connection_is_resumed(sshd, account: Path, package: Path) -> None:
    dropped: list[int] = []

    def drop_once(done: int, total: int) -> None:
        if not dropped and done > 0.3 * total:
            dropped.append(sshd.drop_connections())

    result = _push(sshd, package, progress=drop_once, backoff=0.05, timeout=10)
    assert dropped and dropped[0] > 0
    assert result.attempts >= 2
    assert (account / "inbox" / package.name).read_bytes() == package.read_bytes()


def test_retries_are_bounded(sshd, package: Path, tmp_path: Path) -> None:
    with sshd_helper.PrivateSshd(tmp_path / "gone") as server:
        port, key = server.port, server.client_key
    started = time.monotonic()
    with pytest.raises(TransferError, match="after 3 attempt"):
        push(package, "127.0.0.1", port, "root", key, retries=3, backoff=0.01, timeout=2)
    assert time.monotonic() - started < 5


def test_sidecar_is_uploaded_first(sshd, account: Path, package: Path) -> None:
    import hashlib

    _push(sshd, package, sidecar=True)
    sidecar = (account / "inbox" / f"{package.name}.sha256").read_text().split()
    assert sidecar == [hashlib.sha256(package.read_bytes()).hexdigest(), package.name]


def test_fetch_downloads_new_outbox_files_once(sshd, account: Path, tmp_path: Path) -> None:
    (account / "outbox" / "receipt-1.json").write_text('{"batch": 1}')
    (account / "outbox" / "receipt-2.json").write_text('{"batch": 2}')
    dest = tmp_path / "receipts"
    got = fetch("127.0.0.1", sshd.port, sshd.user, sshd.client_key, dest)
    assert sorted(p.name for p in got) == ["receipt-1.json", "receipt-2.json"]
    assert (dest / "receipt-2.json").read_text() == '{"batch": 2}'
    assert fetch("127.0.0.1", sshd.port, sshd.user, sshd.client_key, dest) == []
    (account / "outbox" / "receipt-3.json").write_text("{}")
    assert [p.name for p in fetch("127.0.0.1", sshd.port, sshd.user, sshd.client_key, dest)] == ["receipt-3.json"]
    assert sorted(p.name for p in dest.iterdir()) == ["receipt-1.json", "receipt-2.json", "receipt-3.json"]


def test_known_hosts_refuses_a_wrong_host_key(sshd, account: Path, package: Path, tmp_path: Path) -> None:
    good = tmp_path / "known_hosts"
    good.write_text(sshd.known_hosts_line())
    assert _push(sshd, package, known_hosts=good).attempts == 1

    other = sshd_helper.keygen(tmp_path / "other_host_key")
    key_type, key = Path(f"{other}.pub").read_text().split()[:2]
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"[127.0.0.1]:{sshd.port} {key_type} {key}\n")
    (account / "inbox" / package.name).unlink()
    with pytest.raises(TransferError, match="refusing"):
        _push(sshd, package, known_hosts=wrong, backoff=0.01)
    assert not (account / "inbox" / package.name).exists()


def test_cli_push_and_fetch(sshd, account: Path, package: Path, tmp_path: Path) -> None:
    (account / "outbox" / "receipt.json").write_text("{}")
    common = ["--host", "127.0.0.1", "--port", str(sshd.port), "--county", sshd.user,
              "--key", str(sshd.client_key)]
    result = CliRunner().invoke(main, ["push", str(package), *common])
    assert result.exit_code == 0, result.output
    assert f"{package.name}: {package.stat().st_size} bytes" in result.output
    assert "server held 0 at the start, 1 attempt(s)" in result.output
    assert (account / "inbox" / package.name).read_bytes() == package.read_bytes()

    (account / "inbox" / package.name).unlink()
    result = CliRunner().invoke(main, ["push", str(package), *common, "--interrupt-after", "1000003"])
    assert result.exit_code == 0, result.output
    assert "resumed at 1000003, 2 attempt(s)" in result.output
    assert (account / "inbox" / package.name).read_bytes() == package.read_bytes()

    bigger = tmp_path / "bigger" / package.name
    bigger.parent.mkdir()
    bigger.write_bytes(b"x" * (package.stat().st_size - 1))  # remote is now larger: must fail
    result = CliRunner().invoke(main, ["push", str(bigger), *common, "--retries", "1"])
    assert result.exit_code == 1
    assert "FAILED" in result.output

    result = CliRunner().invoke(main, ["fetch", *common, "--dest", str(tmp_path / "in")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "in" / "receipt.json").read_text() == "{}"


def test_push_and_fetch_against_the_gateway(gateway, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.gateway.conftest import big_package

    package = tmp_path / "520122-2026-11.zip"
    package.write_bytes(big_package(6 * 2**20))
    key = gateway.keys["520122"][0].path
    result = push(package, "127.0.0.1", gateway.port, "520122", key, backoff=0.01)
    assert (result.resumed_from, result.attempts) == (0, 1)
    assert (gateway.county("520122") / "inbox" / package.name).read_bytes() == package.read_bytes()
    assert push(package, "127.0.0.1", gateway.port, "520122", key).bytes_sent == 0  # rerun: already there

    (gateway.county("520122") / "outbox" / "receipt-1.json").write_text("{}")
    got = fetch("127.0.0.1", gateway.port, "520122", key, tmp_path / "receipts")
    assert [p.read_text() for p in got] == ["{}"]


def test_push_resumes_a_partial_upload_on_the_gateway(gateway, connect, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.gateway.conftest import big_package

    package = tmp_path / "520122-2026-12.zip"
    package.write_bytes(big_package(6 * 2**20))
    n = 2 * 2**20 + 7
    sftp = connect("520122")
    with sftp.open(f"inbox/{package.name}", "w") as first_part:
        first_part.write(package.read_bytes()[:n])
    assert sftp.stat(f"inbox/{package.name}").st_size == n
    result = push(package, "127.0.0.1", gateway.port, "520122", gateway.keys["520122"][0].path)
    assert (result.resumed_from, result.bytes_sent) == (n, package.stat().st_size - n)
    assert (gateway.county("520122") / "inbox" / package.name).read_bytes() == package.read_bytes()


def test_rehearsed_cut_leaves_a_partial_and_the_push_resumes_it(gateway, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.gateway.conftest import big_package

    package = tmp_path / "520122-2027-01.zip"
    package.write_bytes(big_package(3 * 2**20))
    cut = 1_000_003
    seen: list[int] = []

    def watch(done: int, total: int) -> None:
        partial = gateway.county("520122") / ".partial" / package.name
        inbox = gateway.county("520122") / "inbox" / package.name
        if done == cut and not seen:  # the link is down: the server holds a partial, nothing in inbox
            seen.append(partial.stat().st_size)
            assert not inbox.exists()

    result = push(package, "127.0.0.1", gateway.port, "520122", gateway.keys["520122"][0].path,
                  interrupt_after=cut, backoff=0.01, progress=watch)
    assert (result.attempts, result.resumed_from, result.last_offset) == (2, 0, cut)
    assert result.bytes_sent == package.stat().st_size
    assert (gateway.county("520122") / "inbox" / package.name).read_bytes() == package.read_bytes()


def test_push_waits_for_a_name_another_session_still_holds(gateway, connect, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """After a dropped line the gateway may still hold the county's old session on the name
    ("busy"); the push retries until it lets go instead of failing at once."""
    import threading

    from tests.gateway.conftest import big_package

    package = tmp_path / "520122-2027-02.zip"
    package.write_bytes(big_package(2 * 2**20))
    n = 500_001
    held = connect("520122").open(f"inbox/{package.name}", "w")
    held.write(package.read_bytes()[:n])
    held.flush()
    release = threading.Timer(3.0, held.close)  # the old session ends (its idle timeout, say)
    release.start()
    try:
        result = push(package, "127.0.0.1", gateway.port, "520122", gateway.keys["520122"][0].path,
                      backoff=0.5, retries=6)
    finally:
        release.join()
    assert result.attempts >= 2 and result.resumed_from == n
    assert (gateway.county("520122") / "inbox" / package.name).read_bytes() == package.read_bytes()


class _ClosesDuringLogin(paramiko.ServerInterface):
    """A server that dies while the client logs in, as a restarting gateway does."""

    def __init__(self, transport: paramiko.Transport) -> None:
        self.transport = transport

    def get_allowed_auths(self, username: str) -> str:
        return "publickey"

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        self.transport.close()
        return paramiko.AUTH_FAILED


@pytest.fixture
def dying_server(tmp_path: Path) -> Iterator[int]:
    import socket
    import threading

    from tests.gateway.conftest import make_key

    host_key = make_key(tmp_path, "host").pkey
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except socket.timeout:
                continue
            transport = paramiko.Transport(sock)
            transport.add_server_key(host_key)
            try:
                transport.start_server(server=_ClosesDuringLogin(transport))
            except (EOFError, OSError, paramiko.SSHException):
                pass  # the client went while the handshake was still under way: this server's point

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(5)
    listener.close()


def test_a_connection_closed_during_login_is_a_broken_link_not_a_refusal(dying_server: int, tmp_path: Path) -> None:
    from tests.gateway.conftest import make_key

    key = make_key(tmp_path, "county")
    package = tmp_path / "520122-2027-03.zip"
    package.write_bytes(b"x" * 1000)
    with pytest.raises(ConnectionResetError):
        open_sftp("127.0.0.1", dying_server, "520122", key.pkey, timeout=5)
    with pytest.raises(TransferError, match="gave up after 2 attempt"):  # retried, then one clear line
        push(package, "127.0.0.1", dying_server, "520122", key.path, retries=2, backoff=0.01, timeout=5)


def test_cli_refuses_a_port_that_is_none(package: Path, tmp_path: Path) -> None:
    """Port 99999 used to be tried (and retried, minutes long) as if it could answer."""
    key = tmp_path / "key"
    key.write_text("unused")
    for command in (["push", str(package)], ["fetch", "--dest", str(tmp_path / "in")]):
        result = CliRunner().invoke(main, [*command, "--host", "127.0.0.1", "--port", "99999", "--county", "520122",
                                           "--key", str(key), "--retries", "1"])
        assert result.exit_code == 2 and "99999 is not in the range 1<=x<=65535" in result.output
