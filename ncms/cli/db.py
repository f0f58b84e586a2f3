"""``ncms db``: the schema and the province's reference data."""
from __future__ import annotations

import logging
from collections.abc import Callable

import click
from sqlalchemy.engine import Engine

from ncms import log, migrate
from ncms.db import session_scope

from . import Context, UsageError, pass_context
from .options import OptionError

logger = logging.getLogger("ncms.db")


@click.group("db")
def db_group() -> None:
    """Create and migrate the database, load the configuration into it."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
@pass_context
def upgrade_command(obj: Context, revision: str) -> None:
    """Migrate the database to REVISION (default: the newest)."""
    obj.settings.ensure_dirs()
    before = migrate.current_revision(obj.engine)
    _migrate(migrate.upgrade, obj, revision)
    after = migrate.current_revision(obj.engine)
    log.event(logger, "db.upgrade", before=before, after=after)
    click.echo(f"database at revision {after} (was {before or 'empty'})")


@db_group.command("downgrade")
@click.argument("revision")
@pass_context
def downgrade_command(obj: Context, revision: str) -> None:
    """Migrate the database back to REVISION ("base" empties it)."""
    _migrate(migrate.downgrade, obj, revision)
    click.echo(f"database at revision {migrate.current_revision(obj.engine) or 'base'}")


def _migrate(step: Callable[[Engine, str], None], obj: Context, revision: str) -> None:
    """Run a migration step; a revision Alembic cannot take is one line naming those it can."""
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    try:
        step(obj.engine, revision)
    except CommandError as exc:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else "not a revision to go to"
        if why.startswith("Can't locate revision"):
            why = "no such revision"
        scripts = ScriptDirectory.from_config(migrate.alembic_config())
        *_, oldest = (script.revision for script in scripts.walk_revisions())  # newest first
        newest = migrate.head_revision()
        raise OptionError(f"revision {revision!r}: {why}; the revisions run from {oldest} to {newest} ('head' is "
                         "the newest, 'base' before the first, -1 one step back; `ncms db current` shows the "
                         "database's)") from exc


@db_group.command("current")
@pass_context
def current_command(obj: Context) -> None:
    """Show the database's revision and whether it is up to date."""
    current, head = migrate.current_revision(obj.engine), migrate.head_revision()
    click.echo(f"{current or 'empty'} ({'up to date' if current == head else f'newest is {head}'})")


@db_group.command("load-config")
@pass_context
def load_config_command(obj: Context) -> None:
    """Load counties, institutions, schemes and the catalogue from the config folder."""
    load_configuration(obj)


def load_configuration(obj: Context) -> dict[str, int]:
    require_migrated(obj)
    from ncms.reference import load_reference, read_reference  # the models and the YAML reader: not for --help

    reference = read_reference(obj.settings.config_dir)
    with session_scope(obj.engine) as session:
        counts = load_reference(session, reference)
    log.event(logger, "db.load_config", config_dir=str(obj.settings.config_dir), **counts)
    click.echo("loaded " + ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in counts.items()))
    return counts


def require_migrated(obj: Context) -> None:
    if not migrate.is_up_to_date(obj.engine):
        raise UsageError("the database is not migrated to the newest revision: run `ncms db upgrade`")
