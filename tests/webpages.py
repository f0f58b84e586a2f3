"""A small synthetic province, loaded and monitored once per database, for the tests of the
institution, member and claim pages; and a signed-in test client per role."""
from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from ncms.config import load_settings

from .conftest import CONFIG_DIR, _postgres_url
from .webauth import add_accounts, sign_in

TODAY = date(2013, 1, 1)
CLAIMS = 6_000


def _load(url: str, folder: Path):  # type: ignore[no-untyped-def]
    from ncms import migrate
    from ncms.db import create_engine, session_scope
    from ncms.ingest.pipeline import ingest_package
    from ncms.monitor import run_monitor
    from ncms.reference import load_reference, read_reference
    from ncms.synth import generate, write_packages
    from ncms.web import create_app

    settings = load_settings({}, data_dir=str(folder / "var"), config_dir=str(CONFIG_DIR), database_url=url)
    settings.ensure_dirs()
    engine = create_engine(url)
    migrate.upgrade(engine)
    with session_scope(engine) as s:
        load_reference(s, read_reference(CONFIG_DIR))
    province = generate(read_reference(CONFIG_DIR), seed=11, claims=CLAIMS)
    for path in write_packages(province, folder / "packages", months_per_package=12):
        ingest_package(engine, settings, path, today=TODAY)
    run_monitor(engine, settings, model=True)
    add_accounts(engine)
    app = create_app(replace(settings, secret_key="test"), {"TESTING": True})
    return engine, app


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def province(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    """(engine, app) of a synthetic province with its findings and features."""
    folder = tmp_path_factory.mktemp("pages")
    if request.param == "sqlite":
        engine, app = _load(f"sqlite:///{folder / 'ncms.db'}", folder)
        yield engine, app
        engine.dispose()
        return
    base = _postgres_url()
    if not base:
        pytest.skip("NCMS_TEST_DATABASE_URL not set")
    schema = f"pages_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    try:
        engine, app = _load(url, folder)
        yield engine, app
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def client_of(app, username: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client
