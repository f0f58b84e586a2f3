"""Fixtures: every database test runs on SQLite and, when NCMS_TEST_DATABASE_URL is set, on PostgreSQL.

Each PostgreSQL test gets a schema of its own (dropped afterwards), so neither another
test nor the leftovers of an earlier run can change its result.
"""
from __future__ import annotations

import os
import shutil
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session

from ncms import migrate
from ncms.config import Settings, load_settings
from ncms.db import create_engine, normalise_url, session_scope

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "config"
RUN_ID = uuid.uuid4().hex[:8]


def config_with(folder: Path, files: dict[str, dict]) -> Path:  # type: ignore[type-arg]
    """A copy of config/ at ``folder``, each YAML file named in ``files`` written with its content."""
    shutil.copytree(CONFIG_DIR, folder)
    for name, content in files.items():
        (folder / name).write_text(yaml.safe_dump(content), encoding="utf-8")
    return folder


def _postgres_url() -> str | None:
    url = os.environ.get("NCMS_TEST_DATABASE_URL")
    return normalise_url(url) if url else None


def pytest_report_header(config: pytest.Config) -> str:
    url = _postgres_url()
    return (f"databases: sqlite{', ' + make_url(url).render_as_string() if url else ' (NCMS_TEST_DATABASE_URL unset: PostgreSQL not tested)'}"
            f"; county databases (ETL): {make_url(MARIADB_URL).render_as_string()}")


_ENGINES: "weakref.WeakSet[Engine]" = weakref.WeakSet()


@sa.event.listens_for(Engine, "engine_connect")
def _remember_engine(connection: sa.Connection) -> None:
    """Every server engine a test opens (its own, an app's, a command's) is remembered, weakly."""
    if connection.engine.dialect.name != "sqlite":
        _ENGINES.add(connection.engine)


@pytest.fixture(autouse=True)
def _close_idle_connections() -> Iterator[None]:
    """After each test, the idle connections of every engine it opened are closed.

    An app or command made in a test keeps its pool until the garbage collector finds it, which
    may be many tests later: over the whole suite PostgreSQL ran out of connections ("too many
    clients already"). Disposing closes only idle connections; an engine a wider fixture still
    holds opens new ones when next used.
    """
    yield
    for engine in list(_ENGINES):
        engine.dispose()


def pytest_sessionstart(session: pytest.Session) -> None:
    """If PostgreSQL was asked for, it must be there: a silent skip would pass CI untested."""
    url = _postgres_url()
    if url:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.OperationalError as exc:
            pytest.exit(f"NCMS_TEST_DATABASE_URL={url} is not reachable: {exc.orig}", returncode=3)
        finally:
            engine.dispose()


# A centralised county's own database in ETL tests. CI sets NCMS_TEST_MARIADB_URL, and then
# an unreachable server fails the tests instead of skipping them.
MARIADB_URL = os.environ.get("NCMS_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """A new, empty MariaDB database (a county's), dropped afterwards."""
    admin = sa.create_engine(MARIADB_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            name = f"ncms_t_{RUN_ID}_{uuid.uuid4().hex[:8]}"
            conn.execute(sa.text(f"CREATE DATABASE {name} CHARACTER SET gbk"))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if "NCMS_TEST_MARIADB_URL" in os.environ:
            raise
        pytest.skip(f"MariaDB not reachable at {MARIADB_URL}: {exc.orig}")
    try:
        yield make_url(MARIADB_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ncms.db'}"
        return
    with postgres_schema(f"t_{RUN_ID}") as url:
        yield url


@contextmanager
def postgres_schema(prefix: str) -> Iterator[str]:
    """The URL of a new PostgreSQL schema (``prefix`` and a random suffix) of
    NCMS_TEST_DATABASE_URL, dropped on leaving; the test is skipped when that is not set."""
    base = _postgres_url()
    if not base:
        pytest.skip("NCMS_TEST_DATABASE_URL not set")
    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def bare_engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def engine(bare_engine: Engine) -> Engine:
    """A database migrated to the newest revision."""
    migrate.upgrade(bare_engine)
    return bare_engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_scope(engine) as s:
        yield s


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings({}, data_dir=str(tmp_path / "var"), database_url=database_url,
                         config_dir=str(CONFIG_DIR))


@pytest.fixture
def loaded_engine(engine: Engine) -> Engine:
    """A migrated database holding the demo province's configuration."""
    from ncms.reference import load_reference, read_reference

    with session_scope(engine) as s:
        load_reference(s, read_reference(CONFIG_DIR))
    return engine


@pytest.fixture
def cli(settings: Settings):  # type: ignore[no-untyped-def]
    """Run ``ncms`` commands against this test's database and data folder."""
    from ncms.cli import main

    runner = CliRunner()
    base = ["--data-dir", str(settings.data_dir), "--database-url", settings.database_url,
            "--config-dir", str(settings.config_dir)]

    def invoke(*args: str, **kwargs):  # type: ignore[no-untyped-def]
        return runner.invoke(main, [*base, *args], catch_exceptions=False, **kwargs)

    return invoke


@pytest.fixture
def app(settings: Settings, loaded_engine: Engine):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from ncms.web import create_app

    return create_app(replace(settings, secret_key="test"), {"TESTING": True})


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()
