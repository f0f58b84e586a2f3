"""The ``ncms`` command: one group per area, thin commands over tested functions.

Each command's module is imported only when that command runs or shows its help (``COMMANDS``),
and a command module imports its heavy parts (polars, scikit-learn, Flask…) inside the
command's function: `ncms etl COUNTY` must not pay for the anomaly model, nor `--help` for
anything (tests/test_startup.py)."""
from __future__ import annotations

import functools
import importlib
import logging
import os
import sys
from functools import cached_property
from typing import Any

import click
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ncms import __version__, log
from ncms.config import ConfigError, Settings, load_settings
from ncms.errors import NcmsError


class Context:
    """What every command may need, built on first use so ``--help`` touches nothing."""

    def __init__(self, **overrides: Any) -> None:
        self.overrides = overrides

    @cached_property
    def settings(self) -> Settings:
        return load_settings(**self.overrides)

    @cached_property
    def engine(self) -> Engine:
        from ncms.db import create_engine, sqlite_path

        path = sqlite_path(self.settings.database_url)
        if path is not None:  # SQLite cannot create the folder of its file
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError:
                pass  # connecting will fail and say so, `ncms doctor` too
        return create_engine(self.settings.database_url)

    def close(self) -> None:
        """Close the engine's pooled connections, if a command opened any: a command run in
        a longer-lived process (a test, a scheduler's worker) must not keep them open."""
        if "engine" in self.__dict__:
            self.engine.dispose()


class UsageError(click.ClickException):
    """A failure the operator can fix; shown as one line, exit code 1."""


# name: (module of ncms.cli, attribute); `ncms --help` imports them all to show their help lines.
COMMANDS = {
    "db": ("db", "db_group"),
    "users": ("users", "users_group"),
    "tokens": ("tokens", "tokens_group"),
    "ingest": ("ingest", "ingest_group"),
    "etl": ("etl", "etl_command"),
    "monitor": ("monitor", "monitor_group"),
    "findings": ("findings", "findings_group"),
    "indicators": ("indicators", "indicators_group"),
    "scheme": ("scheme", "scheme_group"),
    "synth": ("synth", "synth_command"),
    "demo": ("demo", "demo_command"),
    "serve": ("serve", "serve_command"),
    "doctor": ("doctor", "doctor_command"),
}


# Commands other packages of the platform add without ncms importing them by name (`ncms report`
# is reports.cli's): entry points of this group, name = module:attribute (setup.cfg).
ENTRY_POINT_GROUP = "ncms.commands"


@functools.cache
def plugin_commands() -> dict[str, Any]:
    """The commands the installed distributions declare in ``ncms.commands``, by name; read only
    for the help or for a name ``COMMANDS`` does not hold."""
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in COMMANDS}


class NcmsGroup(click.Group):
    """Loads a command's module on first use (``COMMANDS``, then the ``ncms.commands`` entry
    points), and turns the errors an operator can act on into one clear line instead of a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS, *plugin_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attribute = COMMANDS[cmd_name]
            self.add_command(getattr(importlib.import_module(f"{__name__}.{module}"), attribute), cmd_name)
        elif cmd_name not in self.commands and cmd_name in plugin_commands():
            self.add_command(plugin_commands()[cmd_name].load(), cmd_name)
        return self.commands.get(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise UsageError(f"configuration: {exc}") from exc
        except NcmsError as exc:
            raise UsageError(str(exc)) from exc
        except BrokenPipeError:  # the reader went away (`| head`): not an error of ours
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise SystemExit(0) from None
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            raise UsageError(f"{exc.strerror or exc}{where} (`ncms doctor` explains)") from exc
        except SQLAlchemyError as exc:
            first = str(exc.orig if getattr(exc, "orig", None) else exc).strip().splitlines()[0]
            raise UsageError(f"database: {first} (check NCMS_DATABASE_URL; `ncms doctor` explains)") from exc


pass_context = click.make_pass_decorator(Context)


@click.group(cls=NcmsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--data-dir", type=click.Path(file_okay=False), help="Data folder (default ./var, or NCMS_DATA_DIR).")
@click.option("--database-url", help="Database URL (default: SQLite in the data folder, or NCMS_DATABASE_URL).")
@click.option("--config-dir", type=click.Path(file_okay=False), help="Configuration folder (default ./config).")
@click.version_option(__version__, prog_name="ncms")
@click.pass_context
def main(ctx: click.Context, data_dir: str | None, database_url: str | None, config_dir: str | None) -> None:
    """Provincial supervision of the New Rural Cooperative Medical Scheme fund."""
    ctx.obj = Context(data_dir=data_dir, database_url=database_url, config_dir=config_dir)
    ctx.call_on_close(ctx.obj.close)
    try:
        level = ctx.obj.settings.log_level
    except ConfigError as exc:
        raise UsageError(f"configuration: {exc}") from exc
    log.configure(level if level in logging.getLevelNamesMapping() else "INFO")

