"""A machine-readable health check for load balancers and ``curl``."""
from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from ncms import __version__, migrate

from .scope import public

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@public
def healthz():  # type: ignore[no-untyped-def]
    engine = current_app.extensions["ncms.engine"]
    try:
        revision = migrate.current_revision(engine)
    except SQLAlchemyError as exc:
        return jsonify(status="error", version=__version__, database=str(exc.__class__.__name__)), 503
    ok = revision == migrate.head_revision()
    body = dict(status="ok" if ok else "error", version=__version__, revision=revision,
                expected_revision=migrate.head_revision())
    return jsonify(body), 200 if ok else 503
