"""``ncms serve``: the web UI on a production WSGI server (waitress)."""
from __future__ import annotations

import logging

import click

from ncms import log

from . import Context, UsageError, pass_context
from .db import require_migrated

logger = logging.getLogger("ncms.web")


def _has_accounts(obj: Context) -> bool:
    from sqlalchemy import func, select

    from ncms.db import session_scope
    from ncms.models import User

    with session_scope(obj.engine) as session:
        return bool(session.scalar(select(func.count()).select_from(User).where(User.active.is_(True))))


@click.command("serve")
@click.option("--host", help="Address to listen on (default 127.0.0.1, or NCMS_HOST).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default 5000, or NCMS_PORT).")
@click.option("--threads", type=click.IntRange(min=1), default=8, show_default=True)
@pass_context
def serve_command(obj: Context, host: str | None, port: int | None, threads: int) -> None:
    """Serve the web UI until interrupted."""
    import waitress

    from ncms.web import create_app

    require_migrated(obj)
    settings = obj.settings.with_secret_key()
    host, port = host or settings.host, port or settings.port
    if not 1 <= port <= 65535:
        raise UsageError(f"port {port} (NCMS_PORT) is not a TCP port: give 1 to 65535")
    app = create_app(settings)
    try:
        server = waitress.create_server(app, host=host, port=port, threads=threads, ident="ncms")
    except OSError as exc:
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror} "
                         "(is another server running there? choose one with --port)") from exc
    log.event(logger, "web.start", host=host, port=port, database=obj.engine.dialect.name)
    click.echo(f"serving on http://{host}:{port}/  (Ctrl+C stops)")
    if not _has_accounts(obj):
        click.echo("no account can sign in yet: create one with `ncms users create NAME --role admin`")
    try:
        server.run()
    except KeyboardInterrupt:
        log.event(logger, "web.stop", host=host, port=port)
