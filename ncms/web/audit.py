"""The audit log from the web: sign-ins and sign-outs, and every view of an unmasked national
ID or name. Rows are written in a transaction of their own, committed at once, so a page that
fails afterwards still leaves its line."""
from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask_login import current_user

from ncms.db import session_scope
from ncms.models import AuditLog


def record(action: str, target: str | None = None, *, user: Any = None, **detail: Any) -> None:
    """One audit line for the current (or given) user and the request's address."""
    user = current_user if user is None else user
    known = getattr(user, "is_authenticated", False)
    with session_scope(current_app.extensions["ncms.engine"]) as session:
        session.add(AuditLog(user_id=user.id if known else None, actor=user.username if known else "anonymous",
                             action=action, target=target, detail=detail or None,
                             remote_addr=request.remote_addr))


def record_personal_view(subject: str, county_code: str | None, fields: tuple[str, ...]) -> None:
    """Someone saw ``fields`` (``national_id``, ``name``) of ``subject`` (``member:520121/M0001``,
    ``claim:123``) unmasked, on the page of the request."""
    record("personal.view", subject, county=county_code, fields=list(fields), page=request.path)
