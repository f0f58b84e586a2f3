"""How the console builds a report without importing ``reports``: the installed distribution
names its builder under the ``ncms.reports`` entry point group (``build = reports.build:
build_report``, setup.cfg), as ``ncms`` finds the ``report`` command (docs/architecture.md).
A test or a deployment may put another callable in ``app.config["REPORT_BUILDER"]``."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import current_app

ENTRY_POINT_GROUP = "ncms.reports"


@functools.cache
def _installed() -> Callable[..., Any] | None:
    from importlib.metadata import entry_points

    found = entry_points(group=ENTRY_POINT_GROUP, name="build")
    return next(iter(found)).load() if found else None


def report_builder() -> Callable[..., Any] | None:
    """``build(engine, settings, kind, period, county, lang, requested_by=...)`` -> the run, or
    None when no package providing reports is installed."""
    return current_app.config.get("REPORT_BUILDER") or _installed()
