"""Findings on the console, and the province ↔ county review loop (docs/review.md):

- ``views``: the workbench (``/findings/``): the list filtered, sorted and paged, saved filters,
  counts per status, bulk assign / push / dismiss, CSV and Excel exports, rule exceptions;
- ``page``: one finding (``/findings/<id>``): its evidence, rule or model explanation, history,
  the step forms, and its attachments to download;
- ``inbox``: a county officer's inbox (``/inbox/``): what was pushed to their county, deadlines
  first, and the answer;
- ``notice``: the audit notice (稽核通知书) of a county as a PDF.

Every step goes through ``ncms.review``, never around it."""
from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("findings", __name__, template_folder="templates")

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    from . import inbox, notice, page, views  # noqa: F401  (their routes on bp)

    app.register_blueprint(bp)
    for module in (views, page, inbox, notice):
        setup = getattr(module, "init_app", None)
        if setup is not None:  # a module's menu entries and landing pages
            setup(app)
