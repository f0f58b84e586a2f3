"""The API tokens page and its two actions (docs/api.md, "Tokens"; docs/web.md).

Only an administrator opens it (others: 403, as every page their role may not open). A token
is made and revoked by ``ncms.tokens.create`` and ``revoke``, as ``ncms tokens`` makes and
revokes them: the same checks, and the same ``token.create`` and ``token.revoke`` lines in the
audit log, with the administrator's username as the actor (the CLI's is ``cli``). The secret of
a new token is in the answer to the form's POST and nowhere else: never in the session, a
redirect or a flash message, and that answer is not to be stored (``Cache-Control: no-store``).
"""
from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ncms import tokens
from ncms.models import ApiToken, Role, User

from ..database import get_session
from ..reports.forms import choices
from ..scope import roles_required
from .forms import SCOPE_LABELS, CreateForm

bp = Blueprint("tokens", __name__, template_folder="templates")

admin_only = roles_required(Role.ADMIN)


@bp.app_context_processor
def _labels() -> dict:
    return {"token_scope_label": lambda s: SCOPE_LABELS.get(getattr(s, "value", s), s),
            "token_state_label": state_label}


def state_label(state: str) -> str:
    return {"active": _("active"), "expired": _("expired"), "revoked": _("revoked")}.get(state, state)


def _form(**kwargs: object) -> CreateForm:
    form = CreateForm(**kwargs)
    users = get_session().scalars(select(User).where(User.active.is_(True)).order_by(User.username)).all()
    form.user.choices = choices([(u.id, f"{u.username} · {_role(u)}") for u in users])
    return form


def _role(user: User) -> str:
    from ..layout import role_label

    return role_label(user) + (f" · {user.county_code}" if user.county_code else "")


def _page(form: CreateForm, issued: tokens.Issued | None = None, owner: User | None = None,  # type: ignore[no-untyped-def]
          status: int = 200):
    session = get_session()
    rows = session.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                           .order_by(ApiToken.id.desc())).all()
    response = make_response(render_template("tokens/index.html", rows=rows, form=form, issued=issued,
                                             issued_to=owner, state=tokens.state, account=_role), status)
    response.headers["Cache-Control"] = "no-store"  # the secret, once: not kept by the browser or a proxy
    return response


@bp.get("/tokens/")
@admin_only
def index():  # type: ignore[no-untyped-def]
    return _page(_form())


@bp.post("/tokens/")
@admin_only
def create():  # type: ignore[no-untyped-def]
    form = _form()
    if not form.validate_on_submit():
        flash(_("The token was not made: see the form below."), "error")
        return _page(form, status=400)
    session = get_session()
    user = session.get(User, form.user.data)
    if user is None:  # gone since the form was shown
        flash(_("The token was not made: see the form below."), "error")
        return _page(form, status=400)
    try:
        issued = tokens.create(session, user, form.name.data, form.scope.data, form.expires_days.data,
                               current_user.username, actor_id=current_user.id, remote_addr=request.remote_addr)
    except tokens.TokenError as exc:
        session.rollback()
        flash(_("The token was not made: %(why)s", why=str(exc)), "error")
        return _page(form, status=400)
    session.commit()
    return _page(_blank_form(), issued, user)


def _blank_form() -> CreateForm:
    """The form again, with its defaults, under the new token's secret (the last values are not kept)."""
    return _form(formdata=None)


@bp.post("/tokens/<int:token_id>/revoke")
@admin_only
def revoke(token_id: int):  # type: ignore[no-untyped-def]
    session = get_session()  # the request's CSRF token was checked before the view (CSRFProtect)
    try:
        token = tokens.revoke(session, token_id, current_user.username, actor_id=current_user.id,
                              remote_addr=request.remote_addr)
    except tokens.TokenError:
        flash(_("There is no token %(id)s.", id=token_id), "error")
        return redirect(url_for("tokens.index"), 303)
    session.commit()
    flash(_("Token %(prefix)s… is revoked: it authenticates no one from the next request on.",
            prefix=token.prefix), "info")
    return redirect(url_for("tokens.index"), 303)
