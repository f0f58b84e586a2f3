"""Sessions that expire, and the gate every request passes.

The gate (``guard``) runs before every view: anonymous visitors reach only the views marked
``@public`` (sign-in, health) and static files; a session idle longer than ``session_idle`` or
older than ``session_lifetime`` is ended; a view that does not say who may open it is refused.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import current_app, flash, jsonify, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import AnonymousUserMixin, current_user, login_user, logout_user
from werkzeug.exceptions import Forbidden

from ncms.models import User

from ..audit import record
from ..scope import PUBLIC, policy_of

SESSION_KEYS_KEPT = ("lang",)  # what survives signing in and out


class Anonymous(AnonymousUserMixin):
    role = None
    county_code = None
    username = None


def now() -> datetime:
    """The clock of sign-in throttling and session expiry (tests move it)."""
    return datetime.now(timezone.utc)


def unauthorized() -> Any:
    if _wants_json():
        return jsonify(error="sign in first"), 401
    flash(str(_l("Please sign in to open this page.")), "info")
    return redirect(url_for("auth.sign_in", next=_local_path()))


def guard() -> Any:
    """Before every view: public, signed in and not expired, and allowed by the view's policy."""
    if request.endpoint is None:
        return None  # no such route: 404 follows
    if request.path.startswith("/api/"):
        return None  # the API's own gate: bearer tokens, never this session (ncms/web/api)
    view = current_app.view_functions.get(request.endpoint)
    policy = policy_of(view)
    if request.endpoint == "static" or request.endpoint.endswith(".static") or policy is PUBLIC:
        return None
    if not current_user.is_authenticated:
        return unauthorized()
    if _expired():
        return _end_session()
    session["seen"] = now().timestamp()
    if policy is None:
        current_app.logger.error("view %s says nothing of who may open it: refused", request.endpoint)
        raise Forbidden()
    if current_user.role not in policy:
        raise Forbidden()
    return None


def start_session(user: User) -> None:
    """A new session for ``user``: nothing of the anonymous one is kept but the language."""
    kept = {key: session[key] for key in SESSION_KEYS_KEPT if key in session}
    session.clear()
    session.update(kept)
    login_user(user)
    session.permanent = True
    session["signed_in_at"] = session["seen"] = now().timestamp()


def end_session() -> None:
    kept = {key: session[key] for key in SESSION_KEYS_KEPT if key in session}
    logout_user()
    session.clear()
    session.update(kept)


def _expired() -> bool:
    settings = current_app.config["NCMS_SETTINGS"]
    moment = now().timestamp()
    started, seen = session.get("signed_in_at"), session.get("seen")
    if started is None or seen is None:
        return True
    return moment - seen > settings.session_idle or moment - started > settings.session_lifetime


def _end_session() -> Any:
    record("session.expired")
    end_session()
    if _wants_json():
        return jsonify(error="session expired: sign in again"), 401
    flash(str(_l("Your session has expired: please sign in again.")), "info")
    return redirect(url_for("auth.sign_in", next=_local_path()))


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return request.is_json or best == "application/json"


def _local_path() -> str:
    return request.full_path.rstrip("?") if request.method == "GET" else "/"
