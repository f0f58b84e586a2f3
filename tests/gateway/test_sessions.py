"""What stock OpenSSH clients see: exit statuses, refusals that say why, the connection
limit, and the first setup an operator does (example accounts file, host key fingerprint).

Every OpenSSH subprocess runs with a timeout or is killed at the end of its test.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import tomllib
from dataclasses import fields
from pathlib import Path

import paramiko
import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.config import GatewayConfig, config_from_dict, load_config
from tests.gateway.conftest import big_package, make_package
from tests.gateway.test_server import openssh, wait_for

ROOT = Path(__file__).resolve().parents[2]
SSH, SCP, SFTP, KEYGEN = (shutil.which(p) for p in ("ssh", "scp", "sftp", "ssh-keygen"))
needs_openssh = pytest.mark.skipif(None in (SSH, SCP, SFTP, KEYGEN), reason="OpenSSH clients not installed")
QUIET = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR"]


def ssh_options(gw, county="520122", port_flag="-p"):
    return ["-i", str(gw.keys[county][0].path), port_flag, str(gw.port), *QUIET]


def scp(gw, *args, timeout=30):
    return subprocess.run([SCP, *ssh_options(gw, port_flag="-P"), *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def background():
    """``background(argv)`` starts a process; every one is killed when the test ends."""
    procs: list[subprocess.Popen] = []

    def start(argv):
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(10)


def gateway_lines(caplog):
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "gateway"]


# -- 7: stock scp and sftp exit 0 ------------------------------------------------------

@needs_openssh
def test_scp_upload_and_download_exit_0(gateway_factory, tmp_path):
    """scp (SFTP mode) exits 1 unless the session ends with an exit status; with one place
    only, the second scp also shows the first connection's place is given back at once."""
    gw = gateway_factory(max_sessions_per_account=1)
    data = make_package({"claims.csv": b"claim_id\nA1\n"})
    src = tmp_path / "520122-0001.zip"
    src.write_bytes(data)
    up = scp(gw, str(src), "520122@127.0.0.1:inbox/")
    assert up.returncode == 0, up.stderr
    assert (gw.county("520122") / "inbox" / src.name).read_bytes() == data
    receipt = gw.county("520122") / "outbox" / "receipt-520122-0001.json"
    receipt.write_text('{"status": "loaded"}')
    down = scp(gw, f"520122@127.0.0.1:outbox/{receipt.name}", str(tmp_path))
    assert down.returncode == 0, down.stderr
    assert (tmp_path / receipt.name).read_text() == receipt.read_text()


@needs_openssh
def test_sftp_batch_exits_0(gateway, tmp_path):
    receipt = gateway.county("520122") / "outbox" / "r.json"
    receipt.write_text("{}")
    done = openssh(gateway, "520122", gateway.keys["520122"][0].path, f"get outbox/r.json {tmp_path}/\n")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "r.json").read_text() == "{}"


def test_sftp_session_ends_with_exit_status_0(gateway):
    t = paramiko.Transport(("127.0.0.1", gateway.port))
    try:
        t.connect(username="520122", pkey=gateway.keys["520122"][0].pkey)
        chan = t.open_session(timeout=5)
        chan.invoke_subsystem("sftp")
        chan.shutdown_write()  # what sftp and scp do when they are done
        chan.settimeout(10)
        assert chan.recv_exit_status() == 0
    finally:
        t.close()


# -- 8: the connection limit says why --------------------------------------------------

@needs_openssh
def test_over_the_limit_sftp_is_told_why(gateway_factory, background):
    gw = gateway_factory(max_sessions_per_account=2)
    for _ in range(2):
        background([SSH, "-N", *ssh_options(gw), "520122@127.0.0.1"])
    assert wait_for(lambda: gw.server.active_sessions("520122") == 2, timeout=10), "ssh -N counts"
    refused = openssh(gw, "520122", gw.keys["520122"][0].path, "ls inbox\n")
    assert refused.returncode != 0
    assert ("county 520122 already has 2 connections open (max_sessions_per_account = 2); "
            "close one and try again") in refused.stderr
    assert "县 520122 已有 2 个连接" in refused.stderr  # the county reads it in Chinese too
    assert "Permission denied" not in refused.stderr
    other = openssh(gw, "520422", gw.keys["520422"][0].path, "ls inbox\n")
    assert other.returncode == 0, other.stderr  # another county is not affected


@needs_openssh
def test_ssh_N_over_the_limit_is_disconnected_with_the_reason(gateway_factory, background):
    gw = gateway_factory(max_sessions_per_account=1)
    gw.server.over_limit_grace = 1.0
    holder = background([SSH, "-N", *ssh_options(gw), "520122@127.0.0.1"])
    assert wait_for(lambda: gw.server.active_sessions("520122") == 1, timeout=10)
    started = time.monotonic()
    over = subprocess.run([SSH, "-N", *ssh_options(gw)[:-2], "-o", "LogLevel=INFO", "520122@127.0.0.1"],
                          capture_output=True, text=True, timeout=30)
    assert over.returncode != 0
    assert "already has 1 connections open (max_sessions_per_account = 1)" in over.stderr
    assert time.monotonic() - started < 10
    assert gw.server.active_sessions("520122") == 1  # the refused one never held a place
    holder.kill()
    holder.wait(10)
    assert wait_for(lambda: gw.server.active_sessions("520122") == 0, timeout=5)
    after = openssh(gw, "520122", gw.keys["520122"][0].path, "ls inbox\n")
    assert after.returncode == 0, after.stderr


def test_over_the_limit_paramiko_session_gets_message_and_exit_status_1(gateway_factory, caplog):
    caplog.set_level("INFO", logger="gateway")
    gw = gateway_factory(max_sessions_per_account=1)
    transports = []
    try:
        for _ in range(2):
            t = paramiko.Transport(("127.0.0.1", gw.port))
            transports.append(t)
            t.connect(username="520122", pkey=gw.keys["520122"][0].pkey)
        first = paramiko.SFTPClient.from_transport(transports[0])
        chan = transports[1].open_session(timeout=5)
        chan.invoke_subsystem("sftp")
        chan.settimeout(10)
        assert chan.recv_exit_status() == 1
        message = chan.makefile_stderr("r").read().decode()
        assert "county 520122 already has 1 connections open (max_sessions_per_account = 1)" in message
        assert first.listdir("/") == ["inbox", "outbox"]  # the one within the limit goes on
        assert any(l["event"] == "gateway.connection" and l.get("result") == "refused"
                   for l in gateway_lines(caplog))
    finally:
        for t in transports:
            t.close()


def test_sftp_sessions_sharing_one_connection_are_limited_too(gateway_factory):
    gw = gateway_factory(max_sessions_per_account=2)
    t = paramiko.Transport(("127.0.0.1", gw.port))
    try:
        t.connect(username="520122", pkey=gw.keys["520122"][0].pkey)
        within = [paramiko.SFTPClient.from_transport(t) for _ in range(2)]
        chan = t.open_session(timeout=5)
        chan.invoke_subsystem("sftp")
        chan.settimeout(10)
        assert chan.recv_exit_status() == 1
        assert "already has 2 SFTP sessions open" in chan.makefile_stderr("r").read().decode()
        assert all(s.listdir("/") == ["inbox", "outbox"] for s in within)
        within[0].close()

        def opens() -> bool:
            try:
                return paramiko.SFTPClient.from_transport(t).listdir("/") == ["inbox", "outbox"]
            except (paramiko.SSHException, EOFError):
                return False
        assert wait_for(opens, timeout=5, step=0.1)  # the closed session's place is free again
    finally:
        t.close()


@needs_openssh
def test_shell_and_commands_say_sftp_only(gateway):
    done = subprocess.run([SSH, *ssh_options(gateway), "520122@127.0.0.1", "id"], capture_output=True,
                          text=True, timeout=30)
    assert done.returncode != 0
    assert "this gateway serves SFTP only" in done.stderr


def test_rsa_key_shorter_than_2048_bits_is_refused(gateway_factory, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    gw = gateway_factory()
    pem = rsa.generate_private_key(65537, 1024).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    (tmp_path / "short").write_bytes(pem)
    short = paramiko.RSAKey.from_private_key_file(str(tmp_path / "short"))
    gw.accounts["520122"]["keys"].append(f"ssh-rsa {short.get_base64()} short")
    gw.rewrite()
    t = paramiko.Transport(("127.0.0.1", gw.port))
    try:
        with pytest.raises(paramiko.AuthenticationException):
            t.connect(username="520122", pkey=short)
    finally:
        t.close()


# -- 8: quota and file size say which limit --------------------------------------------

def test_max_file_bytes_refusal_names_the_limit(gateway_factory, connect, caplog):
    caplog.set_level("INFO", logger="gateway")
    sftp = connect(gw=gateway_factory(max_file_bytes=100_000))
    with pytest.raises(IOError) as info:
        with sftp.open("inbox/big.zip", "wb") as f:
            f.write(big_package(200_000))
    assert "max_file_bytes = 100,000" in str(info.value)
    refused = [l for l in gateway_lines(caplog) if l["event"] == "gateway.refused"]
    assert len(refused) == 1  # once per file, not once per pipelined write
    assert refused[0]["limit"] == "max_file_bytes" and refused[0]["account"] == "520122"
    assert refused[0]["file"] == "big.zip"


def test_quota_refusal_names_the_limit_and_the_figures(gateway_factory, connect):
    gw = gateway_factory()
    gw.accounts["520122"]["quota_bytes"] = 1_000_000
    gw.rewrite()
    (gw.county("520122") / "inbox" / "held.zip").write_bytes(b"x" * 600_000)  # delivered, not yet taken
    sftp = connect(gw=gw)
    with pytest.raises(IOError) as info:
        with sftp.open("inbox/q.zip", "wb") as f:
            f.write(big_package(500_000))
    message = str(info.value)
    assert "quota_bytes = 1,000,000" in message and "county 520122 holds" in message
    held = int(re.search(r"holds ([\d,]+) bytes", message).group(1).replace(",", ""))
    assert 600_000 <= held <= 1_000_000


@needs_openssh
def test_stock_sftp_shows_which_limit_refused_a_put(gateway_factory, tmp_path):
    gw = gateway_factory(max_file_bytes=100_000)
    src = tmp_path / "big.zip"
    src.write_bytes(big_package(300_000))
    done = openssh(gw, "520122", gw.keys["520122"][0].path, f"put {src} inbox/\n")
    assert done.returncode != 0
    assert "over max_file_bytes = 100,000" in done.stderr, done.stderr


# -- 14: first setup -------------------------------------------------------------------

@needs_openssh
def test_host_key_command_prints_what_ssh_keygen_prints(gateway_factory, tmp_path):
    gw = gateway_factory()
    gw.rewrite(port=gw.port)  # the file now names the port the test server listens on
    result = CliRunner().invoke(main, ["host-key", "--config", str(gw.config_path), "--host", "127.0.0.1"])
    assert result.exit_code == 0, result.output
    printed = dict(line.split(":", 1) for line in result.output.splitlines())
    host_key = Path(printed["host key file"].strip())
    keygen = subprocess.run([KEYGEN, "-lf", str(host_key)], capture_output=True, text=True, timeout=30)
    assert keygen.returncode == 0, keygen.stderr
    bits, fingerprint = keygen.stdout.split()[:2]
    assert printed["fingerprint"].split()[:2] == [bits, fingerprint]
    public = subprocess.run([KEYGEN, "-yf", str(host_key)], capture_output=True, text=True, timeout=30)
    assert printed["public key"].split() == public.stdout.split()[:2]
    # the known_hosts line is what a county needs to connect with strict checking
    known = tmp_path / "known_hosts"
    known.write_text(printed["known_hosts"].strip() + "\n")
    strict = subprocess.run([SFTP, "-b", "-", "-i", str(gw.keys["520122"][0].path), "-P", str(gw.port),
                             "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known}",
                             "-o", "BatchMode=yes", "520122@127.0.0.1"], input="ls\n", capture_output=True,
                            text=True, timeout=30)
    assert strict.returncode == 0, strict.stderr


def test_example_accounts_file_loads():
    config = load_config(ROOT / "config" / "gateway.example.toml")
    assert config.accounts and all(a.keys for a in config.accounts.values())
    assert config.spool.name == "spool"


def _documented_defaults() -> dict[str, str]:
    """The rows of the defaults table in docs/gateway.md: ``| `key` | `value` | … |``."""
    text = (ROOT / "docs" / "gateway.md").read_text(encoding="utf-8")
    table = text.split("### Every `[gateway]` setting", 1)[1].split("\n\n", 2)[1]
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \|", table, flags=re.M)
    assert rows, "the defaults table in docs/gateway.md is missing"
    return dict(rows)


def test_documented_defaults_are_the_real_defaults(tmp_path):
    documented = _documented_defaults()
    actual = config_from_dict({"gateway": {"spool": "spool"}}, tmp_path / "gateway.toml")
    settings = {f.name for f in fields(GatewayConfig)} - {"path", "accounts"}
    assert set(documented) == settings, "every [gateway] setting has one row"
    assert documented.pop("spool") == "required"
    for key, cell in documented.items():
        value = tomllib.loads(f"v = {cell.strip('`')}")["v"]
        real = getattr(actual, key)
        if key == "host_key":
            value = tmp_path / value
        assert (list(real) if isinstance(real, tuple) else real) == value, key


def test_example_accounts_file_sets_every_documented_setting():
    example = tomllib.loads((ROOT / "config" / "gateway.example.toml").read_text(encoding="utf-8"))
    assert set(example["gateway"]) >= set(_documented_defaults())
