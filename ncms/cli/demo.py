"""``ncms demo``: the platform's main job on the embedded defaults, from an empty data folder."""
from __future__ import annotations

import click
from sqlalchemy import func, select

from ncms import migrate
from ncms.db import session_scope
from ncms.models import County, DeploymentMode

from . import Context, pass_context
from .db import load_configuration


@click.command("demo")
@pass_context
def demo_command(obj: Context) -> None:
    """Migrate, load the demo province's configuration and summarise it."""
    settings = obj.settings
    settings.ensure_dirs()
    click.echo(f"data folder {settings.data_dir}, database {obj.engine.url.render_as_string()}")
    migrate.upgrade(obj.engine)
    click.echo(f"database at revision {migrate.current_revision(obj.engine)}")
    load_configuration(obj)
    with session_scope(obj.engine) as session:
        by_mode = dict(session.execute(select(County.mode, func.count()).group_by(County.mode)).all())
    click.echo(
        f"province ready: {by_mode.get(DeploymentMode.ETL, 0)} centralised (etl) and "
        f"{by_mode.get(DeploymentMode.GATEWAY, 0)} distributed (gateway) counties"
    )
    click.echo("next: `ncms serve`, then open http://127.0.0.1:5000/")
