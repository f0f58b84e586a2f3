"""``ncms tokens``: bearer tokens of the REST API (docs/api.md), for a user or a service account."""
from __future__ import annotations

import click
from sqlalchemy import select

from ncms.db import session_scope
from ncms.models import ApiToken, TokenScope, User

from . import Context, UsageError, pass_context
from .db import require_migrated


@click.group("tokens")
def tokens_group() -> None:
    """Create, list and revoke API tokens."""


@tokens_group.command("create")
@click.argument("username")
@click.option("--scope", type=click.Choice([s.value for s in TokenScope]), default=TokenScope.READ.value,
              show_default=True, help="read (GET only), or write (read, and the steps the user's role may take).")
@click.option("--expires-days", type=int, default=90, show_default=True)
@click.option("--name", required=True, help="What or who uses the token (a county's HIS, the data centre…).")
@pass_context
def create_command(obj: Context, username: str, scope: str, expires_days: int, name: str) -> None:
    """A token acting as USERNAME; its secret is printed once, and only its hash is kept."""
    from ncms import tokens

    require_migrated(obj)
    with session_scope(obj.engine) as session:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise UsageError(f"no account {username}")
        try:
            issued = tokens.create(session, user, name, scope, expires_days, "cli")
        except tokens.TokenError as exc:
            raise UsageError(str(exc)) from None
        click.echo(f"token {issued.token.id} ({issued.token.prefix}…) for {user.username}, {scope}, "
                   f"expires {issued.token.expires_at:%Y-%m-%d %H:%M} UTC")
        click.echo("the secret, shown this once (keep it like a password):")
        click.echo(issued.secret)


@tokens_group.command("list")
@pass_context
def list_command(obj: Context) -> None:
    """Every token: id, prefix, user, scope, state, expiry, last use, name."""
    from ncms import tokens

    require_migrated(obj)
    with session_scope(obj.engine) as session:
        rows = session.execute(select(ApiToken, User.username).join(User, User.id == ApiToken.user_id)
                               .order_by(ApiToken.id)).all()
        for token, username in rows:
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            click.echo(f"{token.id:>4}  {token.prefix}…  {username:<16} {token.scope.value:<5}  "
                       f"{tokens.state(token):<7}  expires {token.expires_at:%Y-%m-%d}  used {used:<16}  {token.name}")


@tokens_group.command("revoke")
@click.argument("token_id", type=int)
@pass_context
def revoke_command(obj: Context, token_id: int) -> None:
    """Revoke token TOKEN_ID at once (it authenticates no one from the next request on)."""
    from ncms import tokens

    require_migrated(obj)
    with session_scope(obj.engine) as session:
        try:
            token = tokens.revoke(session, token_id, "cli")
        except tokens.TokenError as exc:
            raise UsageError(str(exc)) from None
        click.echo(f"revoked token {token.id} ({token.prefix}…)")
