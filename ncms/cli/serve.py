"""``ncms serve``: the web UI on a production WSGI server: waitress in one process, or gunicorn
with several worker processes (``--workers``), each with its threads (docs/operations.md)."""
from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Callable
from typing import Any

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
@click.option("--threads", type=click.IntRange(min=1), default=8, show_default=True, help="Threads of each process.")
@click.option("--workers", type=click.IntRange(min=1), envvar="NCMS_WEB_WORKERS",
              help="Processes serving requests (or NCMS_WEB_WORKERS). Default: one on SQLite, else one "
                   "per CPU core (at most 8).")
@pass_context
def serve_command(obj: Context, host: str | None, port: int | None, threads: int, workers: int | None) -> None:
    """Serve the web UI until interrupted."""
    from ncms.web import create_app

    require_migrated(obj)
    settings = obj.settings.with_secret_key()
    host, port = host or settings.host, port or settings.port
    if not 1 <= port <= 65535:
        raise UsageError(f"port {port} (NCMS_PORT) is not a TCP port: give 1 to 65535")
    workers = workers or default_workers(obj.engine.dialect.name)
    if workers > 1 and sys.platform == "win32":
        raise UsageError("--workers above 1 needs a Unix (gunicorn): serve with one process on Windows")
    has_accounts = _has_accounts(obj)
    obj.engine.dispose()  # no connection of this process is carried into the workers
    log.event(logger, "web.start", host=host, port=port, database=obj.engine.dialect.name, workers=workers,
              threads=threads)
    if workers == 1:
        import waitress

        app = create_app(settings)
        try:
            server = waitress.create_server(app, host=host, port=port, threads=threads, ident="ncms")
        except OSError as exc:
            raise _cannot_listen(host, port, exc) from exc
        _started(host, port, has_accounts, workers)
        try:
            server.run()
        except KeyboardInterrupt:
            log.event(logger, "web.stop", host=host, port=port)
        return
    _check_free(host, port)
    _started(host, port, has_accounts, workers)
    _gunicorn(lambda: create_app(settings), {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": threads,
        "keepalive": 120,  # as waitress keeps an idle connection: a reader's next page comes on it
        "graceful_timeout": 3,  # on SIGTERM the requests being served get 3 s (waitress: none)
        "timeout": 300,  # a worker silent this long is restarted (gthread: not a slow request)
        "accesslog": None,  # the app logs each request itself (ncms.web.request)
        "proc_name": "ncms",
    }).run()
    log.event(logger, "web.stop", host=host, port=port)


def default_workers(dialect: str) -> int:
    """One process on SQLite (the demo: one writer at a time), else one per core, at most 8:
    a page's Python holds one process's interpreter lock, so one process uses one core."""
    if dialect == "sqlite":
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, 8))


def _started(host: str, port: int, has_accounts: bool, workers: int) -> None:
    processes = f", {workers} processes" if workers > 1 else ""
    click.echo(f"serving on http://{host}:{port}/  (Ctrl+C stops{processes})")
    if not has_accounts:
        click.echo("no account can sign in yet: create one with `ncms users create NAME --role admin`")


def _cannot_listen(host: str, port: int, exc: OSError) -> UsageError:
    return UsageError(f"cannot listen on {host}:{port}: {exc.strerror} "
                      "(is another server running there? choose one with --port)")


def _check_free(host: str, port: int) -> None:
    """Refuse at once, as waitress does, a port gunicorn could not bind (it would retry and log)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise _cannot_listen(host, port, exc) from exc


def _gunicorn(factory: Callable[[], Any], options: dict[str, Any]) -> Any:
    """gunicorn's arbiter serving ``factory()``'s app, made in each worker (no engine is shared
    across a fork)."""
    from gunicorn.app.base import BaseApplication

    class Application(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                self.cfg.set(key, value)
            if "control_socket_disable" in self.cfg.settings:  # gunicorn 25+: no socket in $HOME shared
                self.cfg.set("control_socket_disable", True)  # by every server of the machine

        def load(self) -> Any:
            return factory()

    return Application()
