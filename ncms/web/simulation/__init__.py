"""The scheme simulation page (``/simulation/``, 补偿方案测算): a county's (or every county's)
claims of a base year recomputed under up to four candidate schemes beside its own scheme, the
next year's fund under each with the balance rules passed or failed, charts, and the comparison
as PDF and Excel. The figures are ``ncms.simulation``'s (docs/simulation.md); this page only
reads the form, calls ``simulate`` and lays the result out."""
from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from .. import layout
from .views import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    from . import exports  # noqa: F401  (its routes on bp)

    app.register_blueprint(bp)
    layout.add_nav(app, "simulation.index", _l("Scheme simulation"))
