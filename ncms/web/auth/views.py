"""``/sign-in`` and ``/sign-out``."""
from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime, gettext as _
from flask_login import current_user

from ncms.accounts import Throttle, authenticate

from ..audit import record
from ..database import get_session
from ..layout import home_url
from ..scope import public, signed_in
from . import sessions
from .forms import SignInForm, SignOutForm

bp = Blueprint("auth", __name__, template_folder="templates")


@bp.route("/sign-in", methods=["GET", "POST"])
@public
def sign_in() -> Any:
    if current_user.is_authenticated and request.method == "GET":
        return redirect(_next_url(request.args.get("next")) or home_url())
    form = SignInForm(next=request.args.get("next", ""))
    status = 200
    if form.validate_on_submit():
        db = get_session()
        result = authenticate(db, form.username.data, form.password.data, remote_addr=request.remote_addr or "",
                              throttle=throttle(), at=sessions.now())
        db.commit()
        if result.user is not None:
            sessions.start_session(result.user)
            return redirect(_next_url(form.next.data) or home_url())
        if result.locked_until is not None:
            status = 429
            flash(_("Too many failed sign-ins: try again after %(time)s.",
                    time=format_datetime(result.locked_until, "short")), "error")
        else:
            status = 401
            flash(_("Wrong username or password."), "error")
    elif request.method == "POST":
        status = 400
    return render_template("auth/sign_in.html", form=form), status


@bp.post("/sign-out")
@signed_in
def sign_out() -> Any:
    form = SignOutForm()
    if form.validate_on_submit():  # CSRFProtect has refused a missing or wrong token already
        record("sign_out")
        sessions.end_session()
        flash(_("You have signed out."), "info")
    return redirect(url_for("auth.sign_in"))


def throttle() -> Throttle:
    settings = current_app.config["NCMS_SETTINGS"]
    return Throttle(failures=settings.sign_in_failures, address_failures=settings.sign_in_address_failures,
                    window=timedelta(seconds=settings.sign_in_window),
                    lockout=timedelta(seconds=settings.sign_in_lockout))


def _next_url(target: str | None) -> str | None:
    """Only a path of this site: never another host (``//evil``, ``https://…``), never a backslash trick."""
    if not target or "\\" in target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
