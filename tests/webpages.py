"""A small synthetic province, loaded and monitored once per database, for the tests of the
console's pages; a signed-in test client per role; the rows those tests look up."""
from __future__ import annotations

from contextlib import nullcontext
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from ncms.config import load_settings

from .conftest import CONFIG_DIR, DATABASES, postgres_schema
from .webauth import COUNTY, OTHER_COUNTY, add_accounts, sign_in

TODAY = date(2013, 1, 1)
CLAIMS = 6_000


def _load(url: str, folder: Path, generated: dict):  # type: ignore[no-untyped-def]
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
    province = generate(read_reference(CONFIG_DIR), **generated)
    for path in write_packages(province, folder / "packages", months_per_package=12):
        ingest_package(engine, settings, path, today=TODAY)
    run_monitor(engine, settings, model=True)
    add_accounts(engine)
    app = create_app(replace(settings, secret_key="test"), {"TESTING": True})
    return engine, app


def synthetic_province(request, tmp_path_factory, name: str, **generated):  # type: ignore[no-untyped-def]
    """Yields (engine, app) of a synthetic province (``ncms.synth.generate(**generated)``) loaded,
    monitored (rules and model) and given one account per role, on the database of
    ``request.param`` ("sqlite" or "postgresql": a schema of its own, dropped after)."""
    folder = tmp_path_factory.mktemp(name)
    sqlite = nullcontext(f"sqlite:///{folder / 'ncms.db'}")
    with sqlite if request.param == "sqlite" else postgres_schema(name) as url:
        engine, app = _load(url, folder, generated)
        yield engine, app
        engine.dispose()


@pytest.fixture(scope="module", params=DATABASES)
def province(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    """(engine, app) of a synthetic province with its findings and features."""
    yield from synthetic_province(request, tmp_path_factory, "pages", seed=11, claims=CLAIMS)


def client_of(app, username: str):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return client


def first_of(engine, stmt, county_column=None, county: str | None = None):  # type: ignore[no-untyped-def]
    """The first row ``stmt`` selects (of ``county`` by ``county_column`` when one is given)."""
    if county:
        stmt = stmt.where(county_column == county)
    with engine.connect() as conn:
        return conn.execute(stmt.limit(1)).one()


def statuses(app, url: str, ids) -> dict[str, list[int]]:  # type: ignore[no-untyped-def]
    """The status of ``url.format(id)`` for each of ``ids``, as the county officer, the auditor
    and the ministry viewer."""
    clients = {username: client_of(app, username) for username in ("officer", "auditor", "ministry")}
    return {username: [client.get(url.format(i)).status_code for i in ids] for username, client in clients.items()}


def ids_by_county(engine, id_column, county_column) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    """An id of the county officer's county, one of another county and one past the last: what
    an officer opens, what is not found for them, and what is not found for anyone."""
    with engine.connect() as conn:
        own, other = (conn.execute(sa.select(id_column).where(county_column == county).limit(1)).scalar_one()
                      for county in (COUNTY, OTHER_COUNTY))
        last = conn.execute(sa.select(sa.func.max(id_column))).scalar_one()
    return own, other, last + 1
