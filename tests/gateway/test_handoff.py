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
    # the gateway runs in this process: its log line for the closed session may land in the
    # command's output, before or after the command's own line
    assert "0 package(s) taken from the inbox" in cli("ingest", "--inbox").output.splitlines()

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


def test_thirty_counties_upload_at_once_and_each_package_is_ingested_once(cli, settings, gateway_factory,
                                                                          tmp_path):
    import shutil
    from concurrent.futures import ThreadPoolExecutor

    import yaml

    from ncms.db import session_scope
    from ncms.models import Batch, BatchStatus

    counties = [f"5201{n:02d}" for n in range(31, 61)]  # 30 county codes of prefecture 5201
    config = tmp_path / "config"
    shutil.copytree(settings.config_dir, config)
    province = yaml.safe_load((config / "province.yaml").read_text(encoding="utf-8"))
    province["counties"] += [dict(code=c, name=f"县{c}", prefecture="5201", mode="gateway",
                                  agricultural_population=100000) for c in counties]
    (config / "province.yaml").write_text(yaml.safe_dump(province, allow_unicode=True), encoding="utf-8")
    assert cli("db", "upgrade").exit_code == 0
    assert cli("--config-dir", str(config), "db", "load-config").exit_code == 0

    gw = gateway_factory(counties=counties, key_kinds=("ed25519",), spool=str(settings.spool_dir))
    packages = {c: basic(tmp_path / "up" / c / f"{c}-0001.zip", county=c) for c in counties}

    def upload(county: str) -> None:
        transport = paramiko.Transport(("127.0.0.1", gw.port))
        try:
            transport.connect(username=county, pkey=paramiko.PKey.from_path(gw.keys[county][0].path))
            paramiko.SFTPClient.from_transport(transport).put(str(packages[county]), f"inbox/{packages[county].name}")
        finally:
            transport.close()

    with ThreadPoolExecutor(max_workers=30) as pool:
        list(pool.map(upload, counties, timeout=120))
    for county, package in packages.items():
        assert (settings.spool_dir / county / "inbox" / package.name).read_bytes() == package.read_bytes()

    first = cli("--config-dir", str(config), "ingest", "--inbox")
    assert first.exit_code == 0 and "30 package(s) taken from the inbox" in first.output
    assert "0 package(s) taken" in cli("ingest", "--inbox").output
    engine = create_engine(settings.database_url)
    with session_scope(engine) as session:
        batches = session.execute(sa.select(Batch.county_code, Batch.status)).all()
        claims = dict(session.execute(sa.select(Claim.county_code, sa.func.count()).group_by(Claim.county_code)).all())
    engine.dispose()
    assert sorted(c for c, _ in batches) == counties and {s for _, s in batches} == {BatchStatus.LOADED}
    assert claims == {c: 2 for c in counties}


def test_a_package_sent_again_through_the_gateway_while_the_first_loads_is_loaded_too(
        cli, settings, gateway_factory, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """The county sends X.zip, ingestion starts on it, the county sends a different X.zip:
    the first was taken out of the inbox before it was read, so the second is delivered
    under the free name and gets its own batch, archive copy and receipt."""
    from ncms.ingest import pipeline
    from ncms.ingest.archive import sha256_file
    from ncms.models import Batch

    from ..packages import claim, items

    assert cli("db", "upgrade").exit_code == 0 and cli("db", "load-config").exit_code == 0
    gw = gateway_factory(spool=str(settings.spool_dir))
    first = basic(tmp_path / "a" / "X.zip")
    second = basic(tmp_path / "b" / "X.zip", seq=2, members=None, enrolments=None, financing=None,
                   claims=[claim("C3")], claim_items=items("C3", "30.00"))
    inbox = settings.spool_dir / "520122" / "inbox"

    def upload(package) -> None:  # type: ignore[no-untyped-def]
        transport = paramiko.Transport(("127.0.0.1", gw.port))
        try:
            transport.connect(username="520122", pkey=gw.keys["520122"][0].pkey)
            paramiko.SFTPClient.from_transport(transport).put(str(package), "inbox/X.zip")
        finally:
            transport.close()

    upload(first)
    real, sent = pipeline._Loader.stage_file, []

    def send_again_while_read(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not sent:
            sent.append(upload(second))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pipeline._Loader, "stage_file", send_again_while_read)
    assert "1 package(s) taken" in cli("ingest", "--inbox").output
    assert sent and sha256_file(inbox / "X.zip") == sha256_file(second)  # delivered under its name, unread
    assert "1 package(s) taken" in cli("ingest", "--inbox").output

    engine = create_engine(settings.database_url)
    with engine.connect() as conn:
        shas = list(conn.scalars(sa.select(Batch.sha256).order_by(Batch.id)))
        claims = set(conn.scalars(sa.select(Claim.source_id)))
    engine.dispose()
    assert shas == [sha256_file(first), sha256_file(second)] and claims == {"C1", "C2", "C3"}
    assert all((settings.archive_dir / sha[:2] / f"{sha}.zip").is_file() for sha in shas)
    assert len(list((settings.spool_dir / "520122" / "outbox").glob("receipt-*.json"))) == 2
