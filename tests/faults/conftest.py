"""Fixtures of the fault suite: a migrated province (SQLite, and PostgreSQL when
NCMS_TEST_DATABASE_URL is set, by tests/conftest.py's ``database_url``) that each seed empties
again, packages as the gateway leaves them in the inboxes, and a real ``ncms-gateway serve``
process that a scenario can kill and start again on the same port."""
from __future__ import annotations

import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ncms.cli.demo_gateway import county_key, free_port, stop_process, wait_for_ssh, write_accounts

from ..conftest import CONFIG_DIR
from .harness import GATEWAY

SFTP = shutil.which("sftp") or "sftp"  # OpenSSH, a system package of `make test`
FIXED_BASE_TIME = 1_300_000_000  # mtimes of delivered packages: their order in the inbox


@dataclass
class Province:
    """A migrated provincial database holding the configuration, and the command-line
    arguments that point ``ncms`` at it."""

    engine: Engine
    url: str
    root: Path
    config_dir: Path = CONFIG_DIR
    configuration: frozenset[str] = frozenset()  # the tables the configuration filled

    def args(self, data_dir: Path) -> list[str]:
        return ["--data-dir", str(data_dir), "--database-url", self.url, "--config-dir", str(self.config_dir)]

    def data_dir(self, name: str) -> Path:
        """A fresh data folder for one run (spool, archive, work folders)."""
        folder = self.root / name
        shutil.rmtree(folder, ignore_errors=True)
        (folder / "spool").mkdir(parents=True)
        return folder

    def tables(self) -> list[sa.Table]:
        """The database's tables as they are (another migration may have added some), in the
        order their foreign keys allow them to be emptied."""
        metadata = sa.MetaData()
        metadata.reflect(self.engine)
        return [t for t in reversed(metadata.sorted_tables) if t.name != "alembic_version"]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            return {t.name: conn.scalar(sa.select(sa.func.count()).select_from(t)) for t in self.tables()}

    def reset(self, only: set[str] | None = None) -> None:
        """Empty every table the configuration left empty (or the tables ``only`` names)."""
        with self.engine.begin() as conn:
            for table in self.tables():
                if (table.name in only) if only is not None else (table.name not in self.configuration):
                    conn.execute(table.delete())


@pytest.fixture
def province(loaded_engine: Engine, database_url: str, tmp_path: Path) -> Province:
    empty = Province(loaded_engine, database_url, tmp_path)
    filled = frozenset(name for name, n in empty.counts().items() if n)
    return Province(loaded_engine, database_url, tmp_path, configuration=filled)


def deliver(packages: list[Path], data_dir: Path, *, county_of=lambda p: p.parent.name) -> None:  # type: ignore[no-untyped-def]
    """Put packages in their counties' spool inboxes as the gateway leaves them (complete,
    renamed in), their mtimes in the order given, which is the order the core takes them."""
    for n, path in enumerate(packages):
        inbox = data_dir / "spool" / county_of(path) / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        target = inbox / path.name
        shutil.copyfile(path, target)
        os.utime(target, (FIXED_BASE_TIME + n, FIXED_BASE_TIME + n))


def random_package(path: Path, size: int, seed: int, county: str = "520122") -> Path:
    """A package ZIP of about ``size`` bytes of incompressible data whose manifest lists the
    SHA-256 of its member: what the gateway accepts as complete, and no other."""
    data = random.Random(seed).randbytes(size)
    manifest = {"format": "ncms-exchange", "format_version": "1.0", "county_code": county, "sequence": seed + 1,
                "period": {"start": "2011-01-01", "end": "2011-03-31"}, "encoding": "UTF-8",
                "files": [{"name": "claim.csv", "record_type": "claim", "format": "csv", "rows": 0,
                           "sha256": hashlib.sha256(data).hexdigest()}]}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("manifest.json", json.dumps(manifest))
        archive.writestr("claim.csv", data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


@dataclass
class GatewayProcess:
    """``ncms-gateway serve`` as the separate process it is, on a fixed loopback port so that a
    restarted server is found where the county's client left it."""

    config: Path
    spool: Path
    port: int
    keys: dict[str, Path]
    log: Path
    proc: subprocess.Popen | None = None  # type: ignore[type-arg]
    started: list[subprocess.Popen] = field(default_factory=list)  # type: ignore[type-arg]

    def start(self) -> "GatewayProcess":
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen([GATEWAY, "serve", "--config", str(self.config)], stdout=log, stderr=log)
        self.started.append(self.proc)
        wait_for_ssh(self.port, self.proc)
        return self

    def kill(self) -> None:
        """SIGKILL: no handler runs, open uploads stay as they were on disk."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=30)

    def push(self, package: Path, county: str, **options: str) -> list[str]:
        """The county's real upload client: ``ncms-gateway push`` (resumes what the server holds)."""
        extra = [item for name, value in options.items() for item in (f"--{name.replace('_', '-')}", value)]
        return [GATEWAY, "push", str(package), "--host", "127.0.0.1", "--port", str(self.port), "--county", county,
                "--key", str(self.keys[county]), *extra]

    def put(self, package: Path, county: str, name: str) -> tuple[list[str], str]:
        """The stock OpenSSH ``sftp`` client writing ``inbox/<name>`` afresh (no resume): what a
        county's script does when it sends a package again. Returns (command, batch script)."""
        return ([SFTP, "-b", "-", "-i", str(self.keys[county]), "-P", str(self.port), "-o", "StrictHostKeyChecking=no",
                 "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
                 f"{county}@127.0.0.1"], f"put {package} inbox/{name}\n")

    def stop(self) -> None:
        for proc in self.started:
            stop_process(proc)


@pytest.fixture
def gateway_process(tmp_path: Path) -> Iterator:  # type: ignore[type-arg]
    """``gateway_process(spool, counties)``: a gateway serving ``spool`` (started)."""
    running: list[GatewayProcess] = []

    def start(spool: Path, counties: tuple[str, ...] = ("520122",)) -> GatewayProcess:
        folder = tmp_path / f"gateway-{len(running)}"
        keys = {county: county_key(folder / "keys" / county) for county in counties}
        port = free_port()
        config = write_accounts(folder / "accounts.toml", spool, port, keys)
        gateway = GatewayProcess(config, spool, port, keys, folder / "gateway.log")
        running.append(gateway)
        return gateway.start()

    yield start
    for gateway in running:
        gateway.stop()
