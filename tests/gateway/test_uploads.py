"""How uploads end: temporary names renamed by stock clients, one writer per name across
sessions, delivery that never replaces a file the core has not taken, and the quiet-time
refusal of uploads that will never be complete."""
from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
import zipfile

import pytest

from gateway import complete
from gateway.config import ConfigError, config_from_dict
from gateway.sftp import NAME_RE, JailedSFTPServer
from gateway.sweep import REFUSED, sweep
from gateway.writers import Writers
from tests.gateway.conftest import make_package
from tests.gateway.test_server import needs_openssh, openssh, wait_for


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def transfer_lines(caplog, **match):
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "gateway"]
    return [l for l in lines if all(l.get(k) == v for k, v in match.items())]


def wrong_checksum_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.json", json.dumps({"files": [{"name": "claims.csv", "sha256": "0" * 64}]}))
        zf.writestr("claims.csv", b"a\n1\n")
    return buf.getvalue()


def no_manifest_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("claims.csv", b"a\n1\n")
    return buf.getvalue()


# -- item 4: temporary name, then rename (WinSCP, scripts) ---------------------------

@needs_openssh
def test_openssh_put_to_filepart_then_rename_delivers_the_final_name(gateway, tmp_path):
    data = make_package({"claims.csv": os.urandom(100_000)})
    src = tmp_path / "X.zip"
    src.write_bytes(data)
    key = gateway.keys["520122"][0].path
    county = gateway.county("520122")
    put = openssh(gateway, "520122", key, f"put {src} inbox/X.zip.filepart\n")
    assert put.returncode == 0, put.stderr
    # whole as it is, but under its temporary name: not for the core
    assert not any((county / "inbox").iterdir())
    assert (county / ".partial" / "X.zip.filepart").read_bytes() == data
    done = openssh(gateway, "520122", key, "rename inbox/X.zip.filepart inbox/X.zip\nls -l inbox\n")
    assert done.returncode == 0, done.stderr
    assert os.listdir(county / "inbox") == ["X.zip"]
    assert (county / "inbox" / "X.zip").read_bytes() == data
    assert not any((county / ".partial").iterdir())


@needs_openssh
def test_openssh_sidecar_and_file_under_temporary_names(gateway, tmp_path):
    """A package and its sidecar, both sent as *.part and renamed, in one batch."""
    data = make_package({"a.csv": os.urandom(5000)})
    (tmp_path / "e.zip").write_bytes(data)
    (tmp_path / "e.zip.sha256").write_text(f"{sha(data)}  e.zip\n")
    script = "".join(f"put {tmp_path / n} inbox/{n}.part\nrename inbox/{n}.part inbox/{n}\n"
                     for n in ("e.zip.sha256", "e.zip"))
    done = openssh(gateway, "520122", gateway.keys["520122"][0].path, script)
    assert done.returncode == 0, done.stderr
    inbox = gateway.county("520122") / "inbox"
    assert sorted(os.listdir(inbox)) == ["e.zip", "e.zip.sha256"]
    assert (inbox / "e.zip").read_bytes() == data


def test_temp_suffixes_come_from_the_accounts_file(gateway_factory, connect):
    gw = gateway_factory(temp_suffixes=[".inflight"])
    data = make_package({"a.csv": b"x\n"})
    sftp = connect("520122", gw=gw)
    for name in ("a.zip.inflight", "b.zip.filepart"):
        with sftp.open(f"inbox/{name}", "wb") as f:
            f.write(data)
    county = gw.county("520122")
    assert os.listdir(county / ".partial") == ["a.zip.inflight"]
    assert os.listdir(county / "inbox") == ["b.zip.filepart"]  # not a temporary name here
    sftp.rename("inbox/a.zip.inflight", "inbox/a.zip")
    assert sorted(os.listdir(county / "inbox")) == ["a.zip", "b.zip.filepart"]


@pytest.mark.parametrize("value", [".filepart", [""], ["a/b"], [".part", 3]])
def test_bad_temp_suffixes_are_a_config_error(tmp_path, value):
    with pytest.raises(ConfigError, match="temp_suffixes"):
        config_from_dict({"gateway": {"spool": "s", "temp_suffixes": value}}, tmp_path / "gw.toml")


def test_rename_never_replaces_another_upload_but_posix_rename_does(gateway, connect):
    sftp = connect("520122")
    county = gateway.county("520122")
    for name, body in (("a.csv.part", b"first"), ("a.csv", b"second")):
        with sftp.open(f"inbox/{name}", "wb") as f:
            f.write(body)
    with pytest.raises(IOError, match="already an upload in progress"):
        sftp.rename("inbox/a.csv.part", "inbox/a.csv")
    assert (county / ".partial" / "a.csv").read_bytes() == b"second"
    assert (county / ".partial" / "a.csv.part").read_bytes() == b"first"
    sftp.posix_rename("inbox/a.csv.part", "inbox/a.csv")
    assert os.listdir(county / ".partial") == ["a.csv"]
    assert (county / ".partial" / "a.csv").read_bytes() == b"first"


# -- item 5: one writer per name, across sessions -------------------------------------

def test_a_second_session_cannot_write_a_name_being_written(gateway, connect, monkeypatch):
    monkeypatch.setattr(JailedSFTPServer, "busy_wait", 0.1)
    data = make_package({"claims.csv": os.urandom(200_000)})
    first, second = connect("520122"), connect("520122")
    county = gateway.county("520122")
    f = first.open("inbox/p.zip", "wb")
    f.write(data[:1000])
    f.flush()
    for mode in ("wb", "ab", "r+"):
        with pytest.raises(IOError, match="busy"):
            second.open("inbox/p.zip", mode)
    with pytest.raises(IOError, match="busy"):
        second.remove("inbox/p.zip")
    with pytest.raises(IOError, match="busy"):
        second.rename("inbox/p.zip", "inbox/q.zip")
    f.write(data[1000:])
    f.close()
    assert (county / "inbox" / "p.zip").read_bytes() == data
    with second.open("inbox/p.zip", "wb") as g:  # the name is free again: a new upload
        g.write(b"partial")
    assert (county / ".partial" / "p.zip").read_bytes() == b"partial"
    assert (county / "inbox" / "p.zip").read_bytes() == data


@needs_openssh
def test_openssh_is_told_a_name_is_busy(gateway, connect, tmp_path, monkeypatch):
    monkeypatch.setattr(JailedSFTPServer, "busy_wait", 0.1)
    held = connect("520122").open("inbox/p.zip", "wb")
    held.write(b"first session")
    held.flush()
    (tmp_path / "p.zip").write_bytes(make_package({"a.csv": b"x\n"}))
    done = openssh(gateway, "520122", gateway.keys["520122"][0].path, f"put {tmp_path / 'p.zip'} inbox/p.zip\n")
    assert done.returncode != 0 and "inbox/p.zip is busy" in done.stderr
    assert (gateway.county("520122") / ".partial" / "p.zip").read_bytes() == b"first session"
    held.close()


def test_removing_a_delivered_file_says_why(gateway, connect):
    sftp = connect("520122")
    with sftp.open("inbox/d.zip", "wb") as f:
        f.write(make_package({"a.csv": b"x\n"}))
    with pytest.raises(PermissionError, match="was delivered"):
        sftp.remove("inbox/d.zip")
    with pytest.raises(FileNotFoundError):
        sftp.remove("inbox/never.zip")
    assert os.listdir(gateway.county("520122") / "inbox") == ["d.zip"]


def test_a_file_still_open_is_not_delivered_by_its_sidecar(gateway, connect):
    """Before: the sidecar delivered the file while the first session still had it open,
    and that session's next write went into the delivered file."""
    data = os.urandom(100_000)
    writer, other = connect("520122"), connect("520122")
    inbox = gateway.county("520122") / "inbox"
    f = writer.open("inbox/x.csv", "wb")
    f.write(data)
    f.flush()
    with other.open("inbox/x.csv.sha256", "wb") as side:
        side.write(f"{sha(data)}  x.csv\n".encode())
    assert not (inbox / "x.csv").exists()
    f.write(b"more rows")  # whatever the open handle still writes, goes into the upload
    f.flush()
    assert not (inbox / "x.csv").exists()
    f.close()
    assert not (inbox / "x.csv").exists()  # no longer what the sidecar says
    partial = gateway.county("520122") / ".partial"
    assert (partial / "x.csv").read_bytes() == data + b"more rows"


def test_resume_right_after_a_dropped_line_gets_the_name(gateway, connect):
    """The new session's open waits the moment the gateway needs to close the old handle."""
    data = make_package({"claims.csv": os.urandom(300_000)})
    county = gateway.county("520122")
    for _ in range(3):
        sftp = connect("520122")
        f = sftp.open("inbox/r.zip", "wb")
        f.write(data[:100_000])
        f.flush()
        sftp.get_channel().get_transport().close()  # dropped line, file never closed
        sftp = connect("520122")
        with sftp.open("inbox/r.zip", "r+") as g:
            offset = sftp.stat("inbox/r.zip").st_size
            g.seek(offset)
            g.write(data[offset:])
        assert (county / "inbox").iterdir() and (county / "inbox" / "r.zip").read_bytes() == data
        (county / "inbox" / "r.zip").unlink()  # the core takes it


def test_writers_claim_waits_for_a_release():
    writers, first = Writers(), object()
    assert writers.claim("520122", ["x"], first)
    threading.Timer(0.2, writers.release, ("520122", ["x"], first)).start()
    started = time.monotonic()
    assert writers.claim("520122", ["x"], object(), wait=5)
    assert 0.1 < time.monotonic() - started < 4
    assert not writers.claim("520122", ["x"], object(), wait=0.05)


def test_writers_claim_all_or_nothing():
    writers, a, b = Writers(), object(), object()
    assert writers.claim("520122", ["x", "y"], a)
    assert not writers.claim("520122", ["y", "z"], b)
    assert not writers.busy("520122", "z") and writers.claim("520422", ["x"], b)
    writers.release("520122", ["x", "y"], b)  # not b's: nothing released
    assert writers.busy("520122", "x")
    writers.release("520122", ["x", "y"], a)
    with writers.holding("520122", ["x"]) as free:
        assert free and writers.busy("520122", "x")
    assert not writers.busy("520122", "x")


# -- item 1: delivery never replaces a file the core has not taken ---------------------

def test_reupload_under_a_delivered_name_is_delivered_beside_it(gateway, connect, caplog):
    caplog.set_level("INFO", logger="gateway")
    first, second = make_package({"a.csv": b"first\n"}), make_package({"a.csv": b"second\n"})
    sftp = connect("520122")
    inbox = gateway.county("520122") / "inbox"
    for data in (first, second):
        with sftp.open("inbox/p.zip", "wb") as f:
            f.write(data)
    assert sorted(os.listdir(inbox)) == ["p.2.zip", "p.zip"]
    assert (inbox / "p.zip").read_bytes() == first
    assert (inbox / "p.2.zip").read_bytes() == second
    assert transfer_lines(caplog, event="gateway.transfer", file="p.zip", delivered_as="p.2.zip")


def test_reupload_with_sidecar_keeps_both_pairs(gateway, connect):
    sftp = connect("520122")
    inbox = gateway.county("520122") / "inbox"
    bodies = (os.urandom(1000), os.urandom(1000))
    for data in bodies:
        with sftp.open("inbox/e.csv.sha256", "wb") as f:
            f.write(f"{sha(data)}  e.csv\n".encode())
        with sftp.open("inbox/e.csv", "wb") as f:
            f.write(data)
    assert sorted(os.listdir(inbox)) == ["e.2.csv", "e.2.csv.sha256", "e.csv", "e.csv.sha256"]
    for name, data in zip(("e.csv", "e.2.csv"), bodies):
        assert (inbox / name).read_bytes() == data
        assert complete.read_sidecar(inbox / (name + ".sha256")) == sha(data)


def test_a_sidecar_waiting_in_inbox_keeps_its_name_for_its_file(tmp_path):
    partial, inbox = tmp_path / "partial", tmp_path / "inbox"
    partial.mkdir(), inbox.mkdir()
    (inbox / "p.zip.sha256").write_text("0" * 64)  # the core has taken p.zip, not yet its sidecar
    (partial / "p.zip").write_bytes(make_package({"a.csv": b"x\n"}))
    assert complete.promote(partial, inbox, "p.zip") == "p.2.zip"
    assert sorted(os.listdir(inbox)) == ["p.2.zip", "p.zip.sha256"]


def test_fresh_names_stay_valid_upload_names():
    long = "a" * 120 + ".zip"
    names = list(zip(range(12), complete.fresh_names(long)))
    assert names[0][1] == long and names[1][1].endswith(".2.zip") and names[11][1].endswith(".12.zip")
    assert all(NAME_RE.fullmatch(n) and len(n) <= 128 for _, n in names)
    assert list(zip(range(3), complete.fresh_names("data")))[1][1] == "data.2"


# -- item 6: the quiet-time sweep ---------------------------------------------------------

PROBLEMS = {
    "truncated": lambda: make_package({"claims.csv": os.urandom(5000)})[:-200],
    "no-manifest": no_manifest_zip,
    "checksum-mismatch": wrong_checksum_zip,
    "not-zip": lambda: b"claim_id\nA1\n",
}


@pytest.mark.parametrize("code", sorted(PROBLEMS))
def test_problem_says_what_is_wrong(tmp_path, code):
    path = tmp_path / "u.zip"
    path.write_bytes(PROBLEMS[code]())
    problem = complete.problem(path)
    assert problem.code == code and problem.zh and problem.en
    assert not complete.is_complete(path)
    if code == "checksum-mismatch":
        assert "claims.csv" in problem.en and "claims.csv" in problem.zh


def test_problem_names_a_wrong_sidecar_and_none_when_complete(tmp_path):
    data, path, side = b"claim_id\nA1\n", tmp_path / "u.csv", tmp_path / "u.csv.sha256"
    path.write_bytes(data)
    side.write_text("0" * 64 + "  u.csv\n")
    problem = complete.problem(path, side)
    assert problem.code == "sidecar-mismatch" and sha(data) in problem.en
    side.write_text(sha(data))
    assert complete.problem(path, side) is None and complete.is_complete(path, side)
    pkg = tmp_path / "ok.zip"
    pkg.write_bytes(make_package({"a.csv": b"x\n"}))
    assert complete.problem(pkg) is None and complete.is_complete(pkg)


def test_quiet_broken_upload_is_refused_with_a_receipt(gateway_factory, connect, caplog):
    caplog.set_level("INFO", logger="gateway")
    gw = gateway_factory(quiet_time=1)
    data = make_package({"claims.csv": os.urandom(50_000)})[:-300]
    sftp = connect("520122", gw=gw)
    with sftp.open("inbox/t.zip", "wb") as f:
        f.write(data)
    county = gw.county("520122")
    assert wait_for(lambda: sftp.listdir("outbox") and not (county / ".partial" / "t.zip").exists(), timeout=10)
    [name] = sftp.listdir("outbox")
    assert name.startswith("refused-t.zip-") and name.endswith("Z.json")
    receipt = json.loads(sftp.open(f"outbox/{name}").read())
    assert receipt["status"] == "refused" and receipt["error_code"] == "truncated"
    assert receipt["file"] == "t.zip" and receipt["bytes"] == len(data) and receipt["sha256"] == sha(data)
    assert "不完整" in receipt["message_zh"] and "truncated" in receipt["message_en"]
    assert (county / REFUSED / "t.zip").read_bytes() == data
    assert not any((county / ".partial").iterdir()) and not any((county / "inbox").iterdir())
    assert "t.zip" not in sftp.listdir("inbox")
    assert wait_for(lambda: transfer_lines(caplog, event="gateway.transfer", file="t.zip", result="refused"))
    [refused] = transfer_lines(caplog, event="gateway.transfer", file="t.zip", result="refused")
    assert refused["reason"] == "truncated" and refused["receipt"] == name and refused["kept_as"] == ".refused/t.zip"


def test_sweep_leaves_recent_and_open_uploads_alone(gateway_factory, connect):
    gw = gateway_factory(quiet_time=3600)
    sftp = connect("520122", gw=gw)
    county = gw.county("520122")
    with sftp.open("inbox/bad.zip", "wb") as f:
        f.write(wrong_checksum_zip())
    held = sftp.open("inbox/held.zip", "wb")
    held.write(b"PK\x03\x04 not yet")
    held.flush()
    config, writers = gw.server.store.current, gw.server.writers
    mtime = (county / ".partial" / "bad.zip").stat().st_mtime
    assert sweep(config, writers, now=mtime + 3000) == []  # still within the quiet time
    [receipt] = sweep(config, writers, now=mtime + 3700)  # held.zip is open: left alone
    body = json.loads(receipt.read_text())
    assert body["file"] == "bad.zip" and body["error_code"] == "checksum-mismatch"
    assert os.listdir(county / ".partial") == ["held.zip"]
    held.close()
    [receipt] = sweep(config, writers, now=time.time() + 3700)
    assert json.loads(receipt.read_text())["error_code"] == "truncated"
    assert sorted(os.listdir(county / REFUSED)) == ["bad.zip", "held.zip"]


def test_sweep_keeps_a_sidecar_whose_file_is_being_sent(gateway_factory, connect):
    gw = gateway_factory(quiet_time=3600)
    data = os.urandom(10_000)
    sftp = connect("520122", gw=gw)
    with sftp.open("inbox/e.csv.sha256", "wb") as f:
        f.write(f"{sha(data)}  e.csv\n".encode())
    writing = sftp.open("inbox/e.csv", "wb")
    writing.write(data)
    writing.flush()
    assert sweep(gw.server.store.current, gw.server.writers, now=time.time() + 7200) == []
    writing.close()
    inbox = gw.county("520122") / "inbox"
    assert sorted(os.listdir(inbox)) == ["e.csv", "e.csv.sha256"] and (inbox / "e.csv").read_bytes() == data


def test_sweep_keeps_a_lone_sidecar_while_its_name_is_claimed(gateway_factory):
    """A session that is opening the file (its name claimed, the file not there yet) wins."""
    gw = gateway_factory(quiet_time=3600)
    (gw.county("520122") / ".partial" / "e.csv.sha256").write_text("0" * 64)
    config, writers, opening = gw.server.store.current, gw.server.writers, object()
    assert writers.claim("520122", ["e.csv"], opening)
    assert sweep(config, writers, now=time.time() + 7200) == []
    writers.release("520122", ["e.csv"], opening)
    [receipt] = sweep(config, writers, now=time.time() + 7200)
    assert json.loads(receipt.read_text())["error_code"] == "sidecar-alone"


def test_sweep_at_start_refuses_what_waited_while_the_gateway_was_down(gateway_factory, tmp_path):
    partial = tmp_path / "spool" / "520122" / ".partial"
    partial.mkdir(parents=True)
    (partial / "old.csv").write_bytes(b"claim_id\nA1\n")
    (partial / "w.zip.filepart").write_bytes(make_package({"a.csv": b"x\n"}))
    (partial / "lost.csv.sha256").write_text("0" * 64)
    week_ago = time.time() - 7 * 86400
    for p in partial.iterdir():
        os.utime(p, (week_ago, week_ago))
    gw = gateway_factory(quiet_time=86400)
    outbox = gw.county("520122") / "outbox"
    assert wait_for(lambda: len(os.listdir(outbox)) == 3 and not any(partial.iterdir()), timeout=10)
    codes = {json.loads((outbox / n).read_text())["file"]: json.loads((outbox / n).read_text())["error_code"]
             for n in os.listdir(outbox)}
    assert codes == {"old.csv": "not-zip", "w.zip.filepart": "temp-name", "lost.csv.sha256": "sidecar-alone"}
    assert sorted(os.listdir(gw.county("520122") / REFUSED)) == ["lost.csv.sha256", "old.csv", "w.zip.filepart"]


def test_quiet_time_default_and_zero_turns_refusal_off(tmp_path, gateway_factory):
    assert config_from_dict({"gateway": {"spool": "s"}}, tmp_path / "gw.toml").quiet_time == 86400
    gw = gateway_factory(quiet_time=0)
    partial = gw.county("520122") / ".partial"
    (partial / "x.csv").write_bytes(b"x")
    assert sweep(gw.server.store.current, gw.server.writers, now=time.time() + 10**8) == []
    assert os.listdir(partial) == ["x.csv"]
