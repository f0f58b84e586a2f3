"""What every page's frame needs: the header's menu, the landing page of each role, the
signed-in user's role label, and links that keep the page's query while changing one value.

Pages plug into the menu with ``add_nav(app, endpoint, label)``: a link shows only when the
endpoint exists and the user may open it (its view's policy, ``ncms.web.scope``). A role's
landing page is set with ``set_home(app, role, endpoint_of_user)``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request, url_for
from flask_babel import LazyString, lazy_gettext as _l
from flask_login import current_user

from ncms.models import Role

from .scope import may_open

ROLE_LABELS = {
    Role.ADMIN: _l("Administrator"),
    Role.AUDITOR: _l("Provincial auditor"),
    Role.COUNTY: _l("County officer"),
    Role.MINISTRY: _l("Ministry viewer"),
}


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: LazyString | str
    roles: frozenset[Role] | None = None  # shown to these roles only (of those the view lets in)


def init_app(app: Flask) -> None:
    app.extensions["ncms.nav"] = []
    app.extensions["ncms.home"] = {}
    add_nav(app, "province.index", _l("Province"))
    add_nav(app, "data.index", _l("Data"))  # the data page's blueprint brings the endpoint
    app.jinja_env.globals.update(nav_items=nav_items, url_with=url_with, role_label=role_label)


def add_nav(app: Flask, endpoint: str, label: LazyString | str, roles: Iterable[Role] | None = None) -> None:
    """A menu link to ``endpoint``, for the roles its view lets in (and only ``roles`` when given)."""
    items = app.extensions["ncms.nav"]
    if all(item.endpoint != endpoint for item in items):
        items.append(NavItem(endpoint, label, None if roles is None else frozenset(roles)))


def set_home(app: Flask, role: Role, home: Callable[[Any], str]) -> None:
    """Where ``role`` lands after signing in: ``home(user)`` gives the URL."""
    app.extensions["ncms.home"][role] = home


def home_url() -> str:
    home = current_app.extensions["ncms.home"].get(getattr(current_user, "role", None))
    return home(current_user) if home else url_for("province.index")


def nav_items() -> list[tuple[NavItem, str, bool]]:
    """(item, URL, is the current page) for each menu link the user may follow."""
    shown = []
    for item in current_app.extensions["ncms.nav"]:
        view = current_app.view_functions.get(item.endpoint)
        if view is not None and may_open(view) and (item.roles is None or current_user.role in item.roles):
            here = request.endpoint == item.endpoint
            shown.append((item, url_for(item.endpoint), here))
    return shown


def url_with(**changes: Any) -> str:
    """This page's URL with some query values changed (None removes one): language, filters."""
    args = request.args.to_dict(flat=False)
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = [value]
    return url_for(request.endpoint or "province.index", **(request.view_args or {}), **args)


def role_label(user: Any = None) -> str:
    user = current_user if user is None else user
    label = str(ROLE_LABELS.get(user.role, user.role))
    return label
