"""The reports page (``/reports/``): the reports built for the ministry, each revision with its
files to download and every send to the ministry, failures first; an auditor builds one there.
Building runs ``reports`` code, which the core never imports: it is found through the
``ncms.reports`` entry point (``builder.py``)."""
from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from .. import layout
from .views import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    layout.add_nav(app, "reports.index", _l("Reports"))
