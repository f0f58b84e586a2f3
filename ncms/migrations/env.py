"""Alembic environment: run on a connection handed in by ``ncms.migrate``, or on the settings' URL."""
from __future__ import annotations

from typing import Any

from alembic import context
import sqlalchemy as sa

from ncms.models import Base
from ncms.models.base import FixedDecimal, UTCDateTime

target_metadata = Base.metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Write our TypeDecorators as plain SQL types, so migrations never import model code."""
    if type_ == "type" and isinstance(obj, FixedDecimal):
        return f"sa.Numeric({obj.precision}, {obj.scale})"
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    from ncms.config import load_settings
    from ncms.db import create_engine

    engine = create_engine(load_settings().database_url)
    with engine.connect() as conn:
        run(conn)
    engine.dispose()
