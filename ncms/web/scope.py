"""Authorisation in one place: who may open a view, and which rows a page may read.

Every view says who may open it (``@public``, ``@signed_in``, ``@roles_required(...)``,
``@personal_data``); the gate in ``ncms.web.auth`` refuses a view that says nothing (deny by
default), so a page that forgets fails the route walk test instead of leaking. Every query a
page runs on a county-bearing table goes through ``scoped`` (or ``county_or_404`` and
``scoped_get_or_404``): a county officer reads their county and nothing else, and another
county's code or row id is *not found* (404), never *forbidden*, so ids cannot be probed.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import abort
from flask_login import current_user
from sqlalchemy import Select, inspect, select

from ncms.models import County, Role

from .database import get_session

F = TypeVar("F", bound=Callable[..., Any])
POLICY = "ncms_roles"  # the attribute a view's decorator sets: the roles that may open it


class _Anyone(frozenset):  # type: ignore[type-arg]
    """The policy of views anyone may open (sign-in, health, static files)."""


PUBLIC = _Anyone()
EVERY_ROLE = frozenset(Role)
PERSONAL_DATA_ROLES = frozenset({Role.ADMIN, Role.AUDITOR, Role.COUNTY})  # never the ministry


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Only these roles may open the view; others get 403 (anonymous visitors are sent to sign in)."""
    allowed = frozenset(roles)

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                abort(401)
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        setattr(guarded, POLICY, allowed)
        return guarded  # type: ignore[return-value]

    return decorate


signed_in = roles_required(*EVERY_ROLE)
"""Any signed-in user, the ministry viewer too: pages of province statistics only."""

personal_data = roles_required(*PERSONAL_DATA_ROLES)
"""Pages that show people or their claims: never the ministry viewer (403)."""


def public(view: F) -> F:
    """Anyone, signed in or not: only sign-in and health."""
    setattr(view, POLICY, PUBLIC)
    return view


def policy_of(view: Callable[..., Any] | None) -> frozenset[Role] | None:
    """The roles that may open ``view``: ``PUBLIC`` for anyone, None when it says nothing."""
    return getattr(view, POLICY, None)


def may_open(view: Callable[..., Any] | None, user: Any = None) -> bool:
    """Whether ``user`` (the current one) may open ``view``: for links and menus."""
    user = current_user if user is None else user
    policy = policy_of(view)
    if policy is None:
        return False
    return policy is PUBLIC or (user.is_authenticated and user.role in policy)


def may_link(endpoint: str) -> bool:
    """Whether a page may link to ``endpoint``: the app has it and the current user may open it."""
    from flask import current_app

    return may_open(current_app.view_functions.get(endpoint))


def county_scope() -> str | None:
    """The one county the current user may read, or None for every county."""
    if current_user.is_authenticated and current_user.role == Role.COUNTY:
        return current_user.county_code
    if not current_user.is_authenticated:
        abort(401)
    return None


def in_scope(county_code: str | None) -> bool:
    scope = county_scope()
    return scope is None or county_code == scope


def scoped(stmt: Select, county_column: Any) -> Select:
    """``stmt`` restricted to the rows the current user may read, ``county_column`` being the
    column that says whose county a row is (``Claim.county_code``, ``Institution.area_code``…)."""
    scope = county_scope()
    return stmt if scope is None else stmt.where(county_column == scope)


def require_in_scope(county_code: str | None) -> None:
    """404 unless the current user may read this county's rows."""
    if not in_scope(county_code):
        abort(404)


def county_or_404(code: str) -> County:
    """The county of a URL: 404 when there is none, or when it is not the officer's own."""
    county = get_session().get(County, code) if isinstance(code, str) and len(code) == 6 else None
    if county is None or not in_scope(county.code):
        abort(404)
    return county


def scoped_get_or_404(model: type, ident: Any, county_column: Any = None) -> Any:
    """The row of ``model`` with primary key ``ident``, read through ``scoped``: 404 when there
    is none or it is another county's. ``county_column`` defaults to ``model.county_code``."""
    column = getattr(model, "county_code") if county_column is None else county_column
    key = inspect(model).primary_key[0]
    row = get_session().scalar(scoped(select(model).where(key == ident), column))
    if row is None:
        abort(404)
    return row
