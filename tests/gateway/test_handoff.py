"""Gateway to core, end to end: an upload cut half-way, finished with OpenSSH `reput`,
lands in the spool inbox once and is ingested once, with the receipt in the outbox."""
from __future__ import annotations

import paramiko
import sqlalchemy as sa

from ncms.db import create_engine
from ncms.models import Claim

from ..packages import basic
from .test_server import openssh


def test_cut_upload_resumed_with_reput_is_ingested_once(cli, settings, gateway_factory, tmp_path):
    assert cli("db", "upgrade").exit_code == 0 and cli("db", "load-config").exit_code == 0
    gw = gateway_factory(spool=str(settings.spool_dir))
    package = basic(tmp_path / "up" / "520122-0001.zip")
    data = package.read_bytes()
    key = gw.keys["520122"][0]

    transport = paramiko.Transport(("127.0.0.1", gw.port))
    transport.connect(username="520122", pkey=paramiko.PKey.from_path(key.path))
    sftp = paramiko.SFTPClient.from_transport(transport)
    with sftp.open(f"inbox/{package.name}", "w") as half:
        half.write(data[: len(data) // 2])
    transport.close()  # the WAN drops: half a package on the gateway, nothing for the core
    inbox = settings.spool_dir / "520122" / "inbox"
    assert not (inbox / package.name).exists()
    assert cli("ingest", "--inbox").output.endswith("0 package(s) taken from the inbox\n")

    done = openssh(gw, "520122", key.path, f"reput {package} inbox/{package.name}\n")
    assert done.returncode == 0, done.stderr
    assert (inbox / package.name).read_bytes() == data

    first = cli("ingest", "--inbox")
    assert first.exit_code == 0 and "520122/520122-0001.zip: batch" in first.output
    assert "1 package(s) taken" in first.output
    assert "0 package(s) taken" in cli("ingest", "--inbox").output
    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Claim)) == 2
    engine.dispose()
    assert len(list((settings.spool_dir / "520122" / "outbox").glob("receipt-*.json"))) == 1
