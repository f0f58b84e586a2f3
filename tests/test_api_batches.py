"""Packages through the API (POST /api/v1/batches): the gateway's ingestion, so the same package
sent by API and through the gateway's inbox gives the same batch and the same receipt; batches
and receipts read back within the county's scope."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from ncms import migrate
from ncms.db import create_engine, session_scope
from ncms.ingest.inbox import ingest_inbox
from ncms.models import Batch, BatchSource, BatchStatus, Claim

from .conftest import CONFIG_DIR, postgres_schema
from .packages import basic
from .test_api import _token
from .webauth import COUNTY, OTHER_COUNTY, add_accounts

SAME = ("county_code", "status", "package_seq", "filename", "sha256", "format_version", "period_start", "period_end",
        "rows_read", "rows_loaded", "rows_rejected", "counts", "error", "error_code")


@pytest.fixture
def gateway_url(database_url, tmp_path):  # type: ignore[no-untyped-def]
    """A second database of the same kind, for the gateway's side."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'gateway.db'}"
        return
    with postgres_schema("t_gw") as url:
        yield url


def _receipt_json(folder: Path) -> dict:  # type: ignore[type-arg]
    [path] = sorted(folder.glob("receipt-*.json"))
    said = json.loads(path.read_text(encoding="utf-8"))
    for moving in ("batch", "received_at", "finished_at"):
        said.pop(moving)
    return said


def test_api_and_gateway_give_the_same_batch_and_receipt(settings, loaded_engine, gateway_url, tmp_path):  # type: ignore[no-untyped-def]
    from ncms.reference import load_reference, read_reference
    from ncms.web import create_app

    package = basic(tmp_path / "pkg" / "520122-2011-0001.zip")
    add_accounts(loaded_engine)
    app = create_app(replace(settings, secret_key="test"), {"TESTING": True})
    client = app.test_client()
    officer = {"Authorization": f"Bearer {_token(loaded_engine, 'officer', 'write')}"}
    reader = {"Authorization": f"Bearer {_token(loaded_engine, 'officer', 'read')}"}
    with package.open("rb") as f:
        assert client.post("/api/v1/batches", data={"package": (f, package.name)}, headers=reader).status_code == 403
    with package.open("rb") as f:
        sent = client.post("/api/v1/batches", data={"package": (f, package.name)}, headers=officer)
    assert sent.status_code == 201, sent.get_json()
    batch = sent.get_json()
    assert batch["status"] == "loaded" and batch["source"] == "api" and batch["rows_loaded"] > 0

    # the gateway's side: the same file delivered into the county's inbox of another database
    gateway = create_engine(gateway_url)
    try:
        migrate.upgrade(gateway)
        with session_scope(gateway) as s:
            load_reference(s, read_reference(CONFIG_DIR))
        gw_settings = replace(settings, database_url=gateway_url, data_dir=tmp_path / "gateway-var")
        inbox = gw_settings.spool_dir / COUNTY / "inbox"
        inbox.mkdir(parents=True)
        (inbox / package.name).write_bytes(package.read_bytes())
        [result] = ingest_inbox(gateway, gw_settings)
        assert result.status is BatchStatus.LOADED
        with session_scope(gateway) as s:
            by_gateway = s.get(Batch, result.batch_id)
            assert by_gateway.source is BatchSource.GATEWAY
            gateway_batch = {k: getattr(by_gateway, k) for k in SAME}
            gateway_claims = s.scalar(sa.select(sa.func.count()).select_from(Claim))
    finally:
        gateway.dispose()
    with session_scope(loaded_engine) as s:
        by_api = s.get(Batch, batch["id"])
        assert {k: getattr(by_api, k) for k in SAME} == gateway_batch
        assert s.scalar(sa.select(sa.func.count()).select_from(Claim)) == gateway_claims
    assert _receipt_json(settings.spool_dir / COUNTY / "outbox") == _receipt_json(gw_settings.spool_dir / COUNTY / "outbox")

    # read back: the batch, its receipt, the list; never another county's
    assert client.get(f"/api/v1/batches/{batch['id']}", headers=reader).get_json()["sha256"] == batch["sha256"]
    receipt = client.get(f"/api/v1/batches/{batch['id']}/receipt.json", headers=reader)
    assert receipt.status_code == 200 and json.loads(receipt.data)["batch"] == batch["id"]
    assert [b["id"] for b in client.get("/api/v1/batches", headers=reader).get_json()["items"]] == [batch["id"]]
    assert client.get(f"/api/v1/batches?county={OTHER_COUNTY}", headers=reader).status_code == 404
    ministry = {"Authorization": f"Bearer {_token(loaded_engine, 'ministry', 'read')}"}
    assert client.get(f"/api/v1/batches/{batch['id']}/receipt.json", headers=ministry).status_code == 403
    # a package of another county sent by this county's token is refused, as the gateway refuses it
    other = basic(tmp_path / "other" / "520121-2011-0001.zip", county=OTHER_COUNTY)
    with other.open("rb") as f:
        refused = client.post("/api/v1/batches", data={"package": (f, other.name)}, headers=officer).get_json()
    assert refused["status"] == "rejected" and refused["error_code"] == "wrong_county"
    assert refused["county_code"] == COUNTY
