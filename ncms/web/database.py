"""One engine per app, one session per request, closed when the request ends.

Views that change data commit themselves; anything left uncommitted is rolled back.
"""
from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from ncms.db import create_engine, session_factory


def init_app(app: Flask, url: str) -> None:
    app.extensions["ncms.engine"] = create_engine(url)  # lazy: connects on first use
    app.teardown_appcontext(_close_session)


def get_session() -> Session:
    if "db_session" not in g:
        g.db_session = session_factory(current_app.extensions["ncms.engine"])()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()
