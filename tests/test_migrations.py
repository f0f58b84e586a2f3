"""Migrations run forwards and backwards on both databases and match the models."""
from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ncms import migrate
from ncms.models import Base


def tables(engine) -> set[str]:  # type: ignore[no-untyped-def]
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def test_upgrade_downgrade_upgrade(bare_engine):
    migrate.upgrade(bare_engine)
    assert migrate.is_up_to_date(bare_engine)
    assert tables(bare_engine) == set(Base.metadata.tables)
    migrate.downgrade(bare_engine, "base")
    assert migrate.current_revision(bare_engine) is None
    assert tables(bare_engine) == set()
    migrate.upgrade(bare_engine)
    assert tables(bare_engine) == set(Base.metadata.tables)


def test_models_and_migrations_agree(engine):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_history_is_linear():
    script = ScriptDirectory.from_config(migrate.alembic_config())
    assert len(script.get_heads()) == 1
    assert len(script.get_bases()) == 1
    for revision in script.walk_revisions():
        assert not revision.is_merge_point
        assert not revision.is_branch_point
