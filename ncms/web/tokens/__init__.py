"""The API tokens page (``/tokens/``), an administrator's: every token of the REST API with its
owner, prefix, scope, expiry, last use and state; a new one made for a user or a service
account, its secret shown once; one revoked. Making and revoking go through ``ncms.tokens``,
as ``ncms tokens`` does (the same checks and audit lines)."""
from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from .. import layout
from .views import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    layout.add_nav(app, "tokens.index", _l("API tokens"))  # shown to administrators: the view's policy
