"""Fixtures for the gateway: a temp spool, an accounts file with fresh client keys, a live
server on a free loopback port, and SFTP clients that log in as a county.

Nothing here imports ``ncms``: the gateway is tested as the separate process it is.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from gateway.config import load_config
from gateway.server import GatewayServer

COUNTIES = ("520122", "520422")


@dataclass
class ClientKey:
    path: Path
    pkey: paramiko.PKey

    @property
    def public_line(self) -> str:
        return f"{self.pkey.get_name()} {self.pkey.get_base64()} test"


def make_key(folder: Path, name: str, kind: str = "ed25519") -> ClientKey:
    private = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else rsa.generate_private_key(65537, 2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    path = folder / name
    path.write_bytes(pem)
    path.chmod(0o600)
    cls = paramiko.Ed25519Key if kind == "ed25519" else paramiko.RSAKey
    return ClientKey(path, cls.from_private_key_file(str(path)))


def write_accounts(path: Path, accounts: dict[str, dict], **gateway) -> None:
    """Write an accounts file; ``accounts`` maps county → {"keys": [...], other fields}."""
    settings = {"spool": "spool", "host": "127.0.0.1", "port": 0, "host_key": "host_ed25519",
                "idle_timeout": 30, "max_sessions_per_account": 4, **gateway}
    lines = ["[gateway]"] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    for county, table in accounts.items():
        lines.append(f"[accounts.{county}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in table.items()]
    text = "\n".join(lines) + "\n"
    # keep the mtime moving even within one clock tick, so a reload is always seen
    old = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    st = path.stat()
    if st.st_mtime_ns <= old:
        os.utime(path, ns=(st.st_atime_ns, old + 1_000_000))


def make_package(members: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A ZIP holding ``members`` and a manifest.json listing each with its sha256."""
    manifest = {"format": "ncms-exchange", "format_version": "1.0", "county_code": "520122",
                "sequence": 1, "period": {"start": "2024-03-01", "end": "2024-03-31"}, "encoding": "UTF-8",
                "files": [{"name": n, "record_type": "claim", "format": "csv", "rows": 0,
                           "sha256": hashlib.sha256(b).hexdigest()} for n, b in members.items()]}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def big_package(size: int) -> bytes:
    """A package of about ``size`` bytes that does not compress (random member data)."""
    return make_package({"claims.csv": os.urandom(size)}, compression=zipfile.ZIP_STORED)


@dataclass
class Gateway:
    root: Path
    config_path: Path
    spool: Path
    keys: dict[str, list[ClientKey]]
    server: GatewayServer
    accounts: dict[str, dict]

    @property
    def port(self) -> int:
        return self.server.port

    def county(self, code: str) -> Path:
        return self.spool / code

    def rewrite(self, **gateway) -> None:
        write_accounts(self.config_path, self.accounts, **gateway)

    def restart(self) -> None:
        self.server.stop()
        self.server = GatewayServer(load_config(self.config_path)).start()


@pytest.fixture
def gateway_factory(tmp_path):
    servers: list[Gateway] = []

    def build(counties=COUNTIES, key_kinds=("ed25519", "rsa"), **gateway) -> Gateway:
        keydir = tmp_path / "keys"
        keydir.mkdir(exist_ok=True)
        keys = {c: [make_key(keydir, f"{c}_{kind}", kind) for kind in key_kinds] for c in counties}
        accounts = {c: {"keys": [k.public_line for k in keys[c]]} for c in counties}
        config_path = tmp_path / "gateway.toml"
        write_accounts(config_path, accounts, **gateway)
        server = GatewayServer(load_config(config_path)).start()
        gw = Gateway(tmp_path, config_path, tmp_path / "spool", keys, server, accounts)
        servers.append(gw)
        return gw

    yield build
    for gw in servers:
        gw.server.stop()


@pytest.fixture
def gateway(gateway_factory) -> Gateway:
    return gateway_factory()


@pytest.fixture
def connect(request):
    """``connect(county, key=None, gw=None)`` → a logged-in paramiko SFTPClient (closed after
    the test), to ``gw`` or else to the default ``gateway`` (started only when used)."""
    opened: list[paramiko.Transport] = []

    def open_client(county: str = "520122", key: paramiko.PKey | None = None, gw: Gateway | None = None):
        gw = gw or request.getfixturevalue("gateway")
        transport = paramiko.Transport(("127.0.0.1", gw.port))
        opened.append(transport)
        transport.connect(username=county, pkey=key or gw.keys[county][0].pkey)
        return paramiko.SFTPClient.from_transport(transport)

    yield open_client
    for t in opened:
        t.close()
