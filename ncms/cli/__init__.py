"""The ``ncms`` command: one group per area, thin commands over tested functions."""
from __future__ import annotations

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


class UsageError(click.ClickException):
    """A failure the operator can fix; shown as one line, exit code 1."""


class NcmsGroup(click.Group):
    """Turns the errors an operator can act on into one clear line instead of a traceback."""

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
    try:
        level = ctx.obj.settings.log_level
    except ConfigError as exc:
        raise UsageError(f"configuration: {exc}") from exc
    log.configure(level if level in logging.getLevelNamesMapping() else "INFO")


def _register() -> None:
    from . import db, demo, doctor, etl, ingest, monitor, serve, synth, users

    main.add_command(db.db_group)
    main.add_command(users.users_group)
    main.add_command(ingest.ingest_group)
    main.add_command(etl.etl_command)
    main.add_command(monitor.monitor_group)
    main.add_command(synth.synth_command)
    main.add_command(demo.demo_command)
    main.add_command(serve.serve_command)
    main.add_command(doctor.doctor_command)


_register()
