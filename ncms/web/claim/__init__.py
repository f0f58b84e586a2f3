"""The claim page: a claim with its items against the catalogue, its compensation recomputed
from the county's scheme beside what was paid, its findings and where it came from."""
from flask import Flask

from . import links
from .views import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    """The blueprint, and the template helpers the institution and member pages share with it."""
    app.register_blueprint(bp)
    links.init_app(app)
