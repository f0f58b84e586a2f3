"""The gateway over real SSH connections on loopback: paramiko and the stock OpenSSH client."""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import threading
import time
import zipfile

import paramiko
import pytest

from tests.gateway.conftest import big_package, make_key, make_package

SFTP = shutil.which("sftp")
needs_openssh = pytest.mark.skipif(SFTP is None, reason="OpenSSH sftp client not installed")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def openssh(gw, county, key_path, script: str, *extra, timeout=30) -> subprocess.CompletedProcess:
    return subprocess.run(openssh_cmd(gw, county, key_path, *extra), input=script, text=True,
                          capture_output=True, timeout=timeout)


def openssh_cmd(gw, county, key_path, *extra):
    return [SFTP, "-b", "-", "-i", str(key_path), "-P", str(gw.port), "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            *extra, f"{county}@127.0.0.1"]


def wait_for(predicate, timeout=10.0, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


# -- uploads -------------------------------------------------------------------------

def test_package_uploaded_with_paramiko_lands_in_inbox(gateway, connect):
    data = make_package({"claims.csv": b"claim_id\nA1\n", "claim_items.csv": b"claim_id,line_no\nA1,1\n"})
    sftp = connect("520122")
    assert sorted(sftp.listdir("/")) == ["inbox", "outbox"]
    with sftp.open("inbox/p1.zip", "wb") as f:
        f.write(data)
    inbox = gateway.county("520122") / "inbox"
    assert (inbox / "p1.zip").read_bytes() == data
    assert not (gateway.county("520122") / ".partial" / "p1.zip").exists()
    assert sftp.stat("inbox/p1.zip").st_size == len(data)
    assert "p1.zip" in sftp.listdir("inbox")


def test_rsa_key_logs_in(gateway, connect):
    sftp = connect("520422", key=gateway.keys["520422"][1].pkey)
    assert sorted(sftp.listdir("/")) == ["inbox", "outbox"]


@needs_openssh
def test_package_uploaded_with_openssh_lands_in_inbox(gateway, tmp_path):
    data = make_package({"members.csv": os.urandom(200_000)})
    src = tmp_path / "pkg.zip"
    src.write_bytes(data)
    r = openssh(gateway, "520122", gateway.keys["520122"][0].path, f"put {src} inbox/pkg.zip\nls -l inbox\n")
    assert r.returncode == 0, r.stderr
    assert (gateway.county("520122") / "inbox" / "pkg.zip").read_bytes() == data
    assert not any((gateway.county("520122") / ".partial").iterdir())


@needs_openssh
def test_put_killed_half_way_then_reput_completes_once(gateway, tmp_path):
    data = big_package(50 * 2**20)
    src = tmp_path / "big.zip"
    src.write_bytes(data)
    county = gateway.county("520122")
    partial, inbox = county / ".partial" / "big.zip", county / "inbox" / "big.zip"
    key = gateway.keys["520122"][0].path
    # -l caps the rate (Kbit/s) so the kill lands in the middle, not after the end
    proc = subprocess.Popen(openssh_cmd(gateway, "520122", key, "-l", "200000"), stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        proc.stdin.write(f"put {src} inbox/big.zip\n")
        proc.stdin.close()
        grew = wait_for(lambda: partial.exists() and partial.stat().st_size > 10 * 2**20 or
                        not inbox.exists() and not partial.exists() and proc.poll() is not None, timeout=20)
        assert not inbox.exists()
        proc.kill()
    finally:
        proc.kill()
        proc.wait(10)
    assert grew and partial.exists(), "the upload should have been interrupted half-way"
    assert wait_for(lambda: gateway.server.active_sessions("520122") == 0, timeout=5)
    assert 0 < partial.stat().st_size < len(data)
    assert not inbox.exists()
    r = openssh(gateway, "520122", key, f"reput {src} inbox/big.zip\n", timeout=60)
    assert r.returncode == 0, r.stderr
    assert sha(inbox.read_bytes()) == sha(data)
    assert not partial.exists()
    assert os.listdir(county / "inbox") == ["big.zip"]


def test_partial_survives_restart_and_resumes(gateway, connect):
    data = big_package(3 * 2**20)
    half = len(data) // 2
    sftp = connect("520122")
    f = sftp.open("inbox/r.zip", "wb")
    f.write(data[:half])
    f.flush()
    sftp.get_channel().get_transport().close()  # dropped line, file never closed
    county = gateway.county("520122")
    assert wait_for(lambda: (county / ".partial" / "r.zip").exists()
                    and (county / ".partial" / "r.zip").stat().st_size == half)
    gateway.restart()
    assert not (county / "inbox" / "r.zip").exists()
    sftp = connect("520122")
    offset = sftp.stat("inbox/r.zip").st_size
    assert offset == half
    with sftp.open("inbox/r.zip", "r+") as f:
        f.seek(offset)
        f.write(data[offset:])
    assert (county / "inbox" / "r.zip").read_bytes() == data
    assert not (county / ".partial" / "r.zip").exists()


def test_truncated_package_stays_partial(gateway, connect):
    data = make_package({"claims.csv": os.urandom(100_000)})
    sftp = connect("520122")
    with sftp.open("inbox/t.zip", "wb") as f:
        f.write(data[: len(data) - 100])
    county = gateway.county("520122")
    assert not (county / "inbox" / "t.zip").exists()
    assert (county / ".partial" / "t.zip").stat().st_size == len(data) - 100
    assert sftp.stat("inbox/t.zip").st_size == len(data) - 100
    with sftp.open("inbox/t.zip", "a") as f:
        f.write(data[len(data) - 100:])
    assert (county / "inbox" / "t.zip").read_bytes() == data


def test_zip_with_wrong_member_checksum_stays_partial(gateway, connect):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"files": [{"name": "claims.csv", "sha256": "0" * 64}]}))
        zf.writestr("claims.csv", b"a\n1\n")
    with connect("520122").open("inbox/bad.zip", "wb") as f:
        f.write(buf.getvalue())
    assert not (gateway.county("520122") / "inbox" / "bad.zip").exists()
    assert (gateway.county("520122") / ".partial" / "bad.zip").exists()


def test_sidecar_completes_a_non_zip_file(gateway, connect):
    data = os.urandom(300_000)
    sftp = connect("520122")
    county = gateway.county("520122")
    with sftp.open("inbox/extract.csv", "wb") as f:
        f.write(data)
    assert not (county / "inbox" / "extract.csv").exists()  # not a package, no sidecar yet
    with sftp.open("inbox/extract.csv.sha256", "wb") as f:
        f.write(f"{sha(data)}  extract.csv\n".encode())
    assert (county / "inbox" / "extract.csv").read_bytes() == data
    assert (county / "inbox" / "extract.csv.sha256").exists()
    assert not any((county / ".partial").iterdir())


def test_sidecar_sent_after_a_delivered_package_joins_it(gateway, connect):
    data = make_package({"a.csv": b"x\n"})
    sftp = connect("520122")
    with sftp.open("inbox/late.zip", "wb") as f:
        f.write(data)
    with sftp.open("inbox/late.zip.sha256", "wb") as f:
        f.write(f"{sha(data)}  late.zip\n".encode())
    inbox = gateway.county("520122") / "inbox"
    assert sorted(os.listdir(inbox)) == ["late.zip", "late.zip.sha256"]


def test_wrong_sidecar_keeps_file_partial(gateway, connect):
    sftp = connect("520122")
    with sftp.open("inbox/x.csv.sha256", "wb") as f:
        f.write(b"0" * 64 + b"  x.csv\n")
    with sftp.open("inbox/x.csv", "wb") as f:
        f.write(b"hello")
    county = gateway.county("520122")
    assert not (county / "inbox" / "x.csv").exists()
    assert (county / ".partial" / "x.csv").exists()


# -- the jail ------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["../520422/inbox/x", "/etc/passwd", "inbox/../../520422/inbox/x",
                                  "/../520422/inbox/x", "inbox/sub/x", "inbox/.hidden", "x",
                                  "inbox/" + "a" * 129, "inbox/bad name", "inbox/x.zip\n"])
def test_writes_outside_the_inbox_are_refused(gateway, connect, path):
    sftp = connect("520122")
    with pytest.raises(IOError):
        with sftp.open(path, "wb") as f:
            f.write(b"x")
    assert not (gateway.county("520422") / ".partial" / "x").exists()
    assert not any((gateway.county("520422") / "inbox").iterdir())


def test_escapes_and_other_county_are_refused(gateway, connect):
    (gateway.county("520422") / "outbox" / "receipt.json").write_text("{}")
    sftp = connect("520122")
    for path in ("/..", "../", "inbox/../../520422", "/520422", "../520422/outbox"):
        with pytest.raises(IOError):
            sftp.listdir(path)
    for path in ("/etc/passwd", "../520422/outbox/receipt.json", "/520422/outbox/receipt.json",
                 "outbox/../../520422/outbox/receipt.json"):
        with pytest.raises(IOError):
            sftp.open(path, "rb").read()
    with pytest.raises(IOError):
        sftp.normalize("/..")
    with pytest.raises(IOError):
        sftp.mkdir("inbox/sub")


def test_symlinks_are_neither_created_nor_followed(gateway, connect):
    sftp = connect("520122")
    with pytest.raises(IOError):
        sftp.symlink("/etc/passwd", "inbox/link")
    with pytest.raises(IOError):
        sftp.symlink("../outbox", "inbox/link")
    # one planted on disk (by anyone) is not followed either
    os.symlink("/etc/passwd", gateway.county("520122") / "outbox" / "passwd")
    os.symlink("/etc/hostname", gateway.county("520122") / ".partial" / "host")
    with pytest.raises(IOError):
        sftp.open("outbox/passwd", "rb").read()
    with pytest.raises(IOError):
        sftp.stat("outbox/passwd")
    assert "passwd" not in sftp.listdir("outbox")
    with pytest.raises(IOError):
        sftp.open("inbox/host", "wb").write(b"x")
    assert open("/etc/hostname").read()  # untouched


def test_outbox_is_readable_not_writable(gateway, connect):
    receipt = gateway.county("520122") / "outbox" / "receipt-1.json"
    receipt.write_text('{"status": "loaded"}')
    sftp = connect("520122")
    assert sftp.listdir("outbox") == ["receipt-1.json"]
    assert sftp.open("outbox/receipt-1.json").read() == b'{"status": "loaded"}'
    assert sftp.stat("outbox/receipt-1.json").st_size == receipt.stat().st_size
    for mode in ("wb", "ab", "r+"):
        with pytest.raises(IOError):
            sftp.open("outbox/receipt-1.json", mode).write(b"x")
    with pytest.raises(IOError):
        sftp.open("outbox/new.json", "wb")
    with pytest.raises(IOError):
        sftp.remove("outbox/receipt-1.json")
    with pytest.raises(IOError):
        sftp.rename("outbox/receipt-1.json", "inbox/receipt-1.json")
    assert receipt.read_text() == '{"status": "loaded"}'


# -- authentication and channels ----------------------------------------------------

def _transport(gateway):
    t = paramiko.Transport(("127.0.0.1", gateway.port))
    t.start_client(timeout=10)
    return t


def test_wrong_key_unknown_user_and_password_fail(gateway, tmp_path):
    stranger = make_key(tmp_path, "stranger")
    cases = [("520122", lambda t: t.auth_publickey("520122", stranger.pkey)),
             ("520122", lambda t: t.auth_publickey("520122", gateway.keys["520422"][0].pkey)),
             ("999999", lambda t: t.auth_publickey("999999", gateway.keys["520122"][0].pkey)),
             ("520122", lambda t: t.auth_password("520122", "520122")),
             ("520122", lambda t: t.auth_interactive("520122", lambda *a: ["x"] * len(a[2])))]
    for _, attempt in cases:
        t = _transport(gateway)
        try:
            with pytest.raises(paramiko.SSHException):
                attempt(t)
            assert not t.is_authenticated()
        finally:
            t.close()
    t = _transport(gateway)
    try:
        with pytest.raises(paramiko.BadAuthenticationType) as info:
            t.auth_password("520122", "x")
        assert info.value.allowed_types == ["publickey"]
    finally:
        t.close()


def test_exec_shell_and_forwarding_are_refused(gateway, connect):
    sftp = connect("520122")
    t = sftp.get_channel().get_transport()
    chan = t.open_session(timeout=5)
    with pytest.raises(paramiko.SSHException):
        chan.exec_command("id")
    chan = t.open_session(timeout=5)
    with pytest.raises(paramiko.SSHException):
        chan.invoke_shell()
    chan = t.open_session(timeout=5)
    with pytest.raises(paramiko.SSHException):
        chan.invoke_subsystem("netconf")
    with pytest.raises(paramiko.ChannelException):
        t.open_channel("direct-tcpip", ("127.0.0.1", 22), ("127.0.0.1", 5555), timeout=5)
    with pytest.raises(paramiko.SSHException):
        t.request_port_forward("127.0.0.1", 0)
    assert sftp.listdir("/")  # the connection itself is still fine


def test_key_added_and_removed_without_restart(gateway, connect, tmp_path):
    new = make_key(tmp_path, "rotated")
    with pytest.raises(paramiko.AuthenticationException):
        connect("520122", key=new.pkey)
    gateway.accounts["520122"]["keys"] = [new.public_line]
    gateway.accounts["520777"] = {"keys": [new.public_line]}
    gateway.rewrite()
    assert connect("520122", key=new.pkey).listdir("/")
    assert sorted(connect("520777", key=new.pkey).listdir("/")) == ["inbox", "outbox"]
    assert (gateway.spool / "520777" / "inbox").is_dir()
    with pytest.raises(paramiko.AuthenticationException):
        connect("520122", key=gateway.keys["520122"][0].pkey)


def test_max_sessions_per_account(gateway_factory):
    gw = gateway_factory(max_sessions_per_account=2)
    transports = []
    try:
        def login(county="520122"):
            t = paramiko.Transport(("127.0.0.1", gw.port))
            transports.append(t)
            t.connect(username=county, pkey=gw.keys[county][0].pkey)
            return paramiko.SFTPClient.from_transport(t)
        a, b = login(), login()
        with pytest.raises((paramiko.SSHException, EOFError)):
            login().listdir("/")
        assert login("520422").listdir("/")  # another county is not affected
        a.close()
        a.get_channel().get_transport().close()
        assert wait_for(lambda: gw.server.active_sessions("520122") < 2, timeout=5)
        assert login().listdir("/")
        assert b.listdir("/")
    finally:
        for t in transports:
            t.close()


def test_quota_exceeded_write_fails_nothing_in_inbox(gateway_factory, tmp_path):
    gw = gateway_factory()
    gw.accounts["520122"]["quota_bytes"] = 1_000_000
    gw.rewrite()
    t = paramiko.Transport(("127.0.0.1", gw.port))
    try:
        t.connect(username="520122", pkey=gw.keys["520122"][0].pkey)
        sftp = paramiko.SFTPClient.from_transport(t)
        data = big_package(2_000_000)
        with pytest.raises(IOError):
            with sftp.open("inbox/q.zip", "wb") as f:
                f.write(data)
        county = gw.county("520122")
        assert not any((county / "inbox").iterdir())
        assert (county / ".partial" / "q.zip").stat().st_size <= 1_000_000
        small = make_package({"a.csv": b"x\n"})
        sftp.remove("inbox/q.zip")  # the county may drop its own partial upload
        with sftp.open("inbox/s.zip", "wb") as f:
            f.write(small)
        assert (county / "inbox" / "s.zip").read_bytes() == small
    finally:
        t.close()


def test_max_file_bytes(gateway_factory):
    gw = gateway_factory(max_file_bytes=100_000)
    t = paramiko.Transport(("127.0.0.1", gw.port))
    try:
        t.connect(username="520122", pkey=gw.keys["520122"][0].pkey)
        sftp = paramiko.SFTPClient.from_transport(t)
        with pytest.raises(IOError):
            with sftp.open("inbox/big.zip", "wb") as f:
                f.write(big_package(200_000))
        assert not any((gw.county("520122") / "inbox").iterdir())
    finally:
        t.close()


def test_idle_session_is_closed(gateway_factory):
    gw = gateway_factory(idle_timeout=1)
    t = paramiko.Transport(("127.0.0.1", gw.port))
    try:
        t.connect(username="520122", pkey=gw.keys["520122"][0].pkey)
        paramiko.SFTPClient.from_transport(t).listdir("/")
        assert wait_for(lambda: not t.is_active(), timeout=5)
    finally:
        t.close()


def test_thirty_counties_upload_at_once(gateway_factory):
    counties = [f"5201{i:02d}" for i in range(30)]
    gw = gateway_factory(counties=counties, key_kinds=("ed25519",))
    packages = {c: make_package({"claims.csv": os.urandom(50_000) + c.encode()}) for c in counties}
    errors = []

    def upload(county):
        t = paramiko.Transport(("127.0.0.1", gw.port))
        try:
            t.connect(username=county, pkey=gw.keys[county][0].pkey)
            sftp = paramiko.SFTPClient.from_transport(t)
            with sftp.open(f"inbox/{county}-1.zip", "wb") as f:
                f.set_pipelined(True)
                f.write(packages[county])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append((county, repr(exc)))
        finally:
            t.close()

    threads = [threading.Thread(target=upload, args=(c,)) for c in counties]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert not errors
    for c in counties:
        inbox = gw.county(c) / "inbox"
        assert os.listdir(inbox) == [f"{c}-1.zip"]
        assert (inbox / f"{c}-1.zip").read_bytes() == packages[c]
        assert not any((gw.county(c) / ".partial").iterdir())


def test_transfer_log_line(gateway, connect, caplog):
    caplog.set_level("INFO", logger="gateway")
    with connect("520122").open("inbox/l.zip", "wb") as f:
        f.write(make_package({"a.csv": b"x\n"}))
    def lines():
        return [json.loads(r.getMessage()) for r in caplog.records if r.name == "gateway"]
    # the auth line comes from the connection's watcher thread, within a fraction of a second
    assert wait_for(lambda: any(l["event"] == "gateway.auth" and l.get("result") == "ok" for l in lines()), 3)
    transfer = [l for l in lines() if l["event"] == "gateway.transfer"]
    assert transfer and transfer[0]["result"] == "complete" and transfer[0]["account"] == "520122"
    assert transfer[0]["resumed_from"] == 0 and transfer[0]["bytes"] > 0
    assert set(transfer[0]) >= {"account", "file", "bytes", "seconds", "resumed_from", "result"}


def test_serve_command_runs_and_stops_on_sigterm(tmp_path):
    import signal
    import sys

    from tests.gateway.conftest import write_accounts

    key = make_key(tmp_path, "k")
    config = tmp_path / "gw.toml"
    write_accounts(config, {"520122": {"keys": [key.public_line]}}, host_key="var/host_ed25519")
    proc = subprocess.Popen([sys.executable, "-c", "from gateway.cli import main; main()", "serve",
                             "--config", str(config)], stderr=subprocess.PIPE, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    try:
        started = json.loads(proc.stderr.readline())
        assert started["event"] == "gateway.start"
        assert (tmp_path / "var" / "host_ed25519").stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "spool" / "520122" / ".partial").is_dir()
        t = paramiko.Transport(("127.0.0.1", started["port"]))
        t.connect(username="520122", pkey=key.pkey)
        assert sorted(paramiko.SFTPClient.from_transport(t).listdir("/")) == ["inbox", "outbox"]
        t.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait(5)


def test_one_shot_hmac_gives_the_same_bytes_as_paramikos_own():
    import hashlib
    import hmac as std_hmac

    from gateway.server import _one_shot_hmac

    for digest in (hashlib.sha256, hashlib.sha512, hashlib.sha1, hashlib.md5):
        key, message = b"k" * 32, b"\x00packet" * 1000
        assert _one_shot_hmac(key, message, digest) == std_hmac.HMAC(key, message, digest).digest()


def test_only_aead_ciphers_are_offered_unless_configured(gateway_factory):
    """AES-GCM by default (no per-packet HMAC); CTR only for old clients, when listed."""
    gw = gateway_factory()
    for cipher, accepted in (("aes128-gcm@openssh.com", True), ("aes128-ctr", False)):
        done = openssh(gw, "520122", gw.keys["520122"][0].path, "ls inbox\n", "-c", cipher)
        assert (done.returncode == 0) == accepted, (cipher, done.stderr)
    gw.rewrite(ciphers=["aes128-gcm@openssh.com", "aes128-ctr"])
    gw.restart()
    done = openssh(gw, "520122", gw.keys["520122"][0].path, "ls inbox\n", "-c", "aes128-ctr")
    assert done.returncode == 0, done.stderr


def test_replies_to_writes_in_flight_go_out_together(gateway, connect, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A client that keeps writes in flight (paramiko's put, like OpenSSH's sftp) gets their
    replies a channel write at a time, not one each; a client that waits for each reply
    still gets it (no reply waits for a request that is not coming)."""
    from gateway.channel import GatewaySFTPServer
    from tests.gateway.conftest import big_package

    sends = []
    original = GatewaySFTPServer._write_all
    monkeypatch.setattr(GatewaySFTPServer, "_write_all", lambda self, out: (sends.append(len(out)), original(self, out)))
    payload = big_package(4 << 20)  # 128 writes of 32 KiB
    sftp = connect("520122")
    with sftp.open("inbox/pipelined.zip.part", "wb") as f:
        f.set_pipelined(True)
        for start in range(0, len(payload), 32768):
            f.write(payload[start:start + 32768])
    pipelined = len(sends)
    assert pipelined < 128 // 2, sends
    assert (gateway.county("520122") / ".partial" / "pipelined.zip.part").read_bytes() == payload
    sends.clear()
    with sftp.open("inbox/waiting.zip.part", "wb") as f:  # not pipelined: a reply before each next write
        for start in range(0, 8 * 32768, 32768):
            f.write(payload[start:start + 32768])
    assert len(sends) >= 8 + 1  # each write's reply, and the open's, went out on its own
    assert (gateway.county("520122") / ".partial" / "waiting.zip.part").read_bytes() == payload[:8 * 32768]
