"""One county's page (``county.show`` at ``/county/<code>``), a county officer's landing page."""
from __future__ import annotations

from flask import Flask, url_for

from ncms.models import Role

from .. import layout
from .views import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    layout.set_home(app, Role.COUNTY, lambda user: url_for("county.show", code=user.county_code))
