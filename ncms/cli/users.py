"""``ncms users``: accounts of administrators, provincial auditors, county officers and ministry
viewers (docs/web.md says what each role sees)."""
from __future__ import annotations

import click
from sqlalchemy import select

from ncms.accounts import create_user
from ncms.db import session_scope
from ncms.models import Role, User

from . import Context, pass_context
from .db import require_migrated


@click.group("users")
def users_group() -> None:
    """Create and list user accounts."""


@users_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.AUDITOR.value, show_default=True,
              help="admin, auditor (every county), county (one county: --county), ministry (statistics only).")
@click.option("--county", "county_code", help="County code; required for (and only for) the county role.")
@click.option("--full-name")
@click.password_option(envvar="NCMS_NEW_PASSWORD", help="Prompted for if not given (or NCMS_NEW_PASSWORD).")
@pass_context
def create_command(obj: Context, username: str, role: str, county_code: str | None,
                   full_name: str | None, password: str) -> None:
    """Create the account USERNAME."""
    require_migrated(obj)
    with session_scope(obj.engine) as session:
        user = create_user(session, username, Role(role), password, county_code=county_code,
                           full_name=full_name, actor="cli")
        scope = f" for county {county_code}" if county_code else ""
        click.echo(f"created {user.role.value} {user.username}{scope}")


@users_group.command("list")
@pass_context
def list_command(obj: Context) -> None:
    """List accounts with role and county scope."""
    require_migrated(obj)
    with session_scope(obj.engine) as session:
        for user in session.scalars(select(User).order_by(User.username)):
            state = "" if user.active else "  (disabled)"
            click.echo(f"{user.username:<20} {user.role.value:<9} {user.county_code or 'province'}{state}")
