"""Sign-in, sign-out and sessions that expire; the gate every request passes (``sessions.guard``)."""
from __future__ import annotations

from datetime import timedelta

from flask import Flask
from flask_babel import lazy_gettext as _l

from ncms.models import User

from ..database import get_session
from ..extensions import login_manager
from .sessions import Anonymous, guard, now, unauthorized
from .views import bp

__all__ = ["bp", "init_app", "now"]


def init_app(app: Flask) -> None:
    settings = app.config["NCMS_SETTINGS"]
    app.config.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(seconds=settings.session_lifetime))
    login_manager.init_app(app)
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = _l("Please sign in to open this page.")
    login_manager.anonymous_user = Anonymous
    login_manager.session_protection = None  # renewed at sign-in, and expires on its own (sessions.py)
    login_manager.user_loader(_load_user)
    login_manager.unauthorized_handler(unauthorized)
    app.before_request(guard)
    app.register_blueprint(bp)


def _load_user(user_id: str) -> User | None:
    user = get_session().get(User, int(user_id)) if user_id.isdigit() else None
    return user if user is not None and user.active else None
