"""The reporting steps as a scheduler calls them (``dags/reporting.py``): like ``ncms.jobs``, each
builds the settings and the engine from ``NCMS_*``, runs the functions ``ncms report`` runs, and
returns ids and counts. The period comes from the data interval, never the clock.

``build_due``: the month before the run (the interval's start, Beijing time), its quarter when
the month ends one, its year in December: the provincial report of each in Chinese, unless one
is built already (a rerun or a retry builds nothing twice; a correction is built by hand,
``ncms report build``). ``publish_due``: every pending report sent to the ministry; a failure
raises after all were tried, so the scheduler retries the task with its backoff.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ncms.indicators import Period
from ncms.jobs import configured_platform

REPORT_TIMEZONE = ZoneInfo("Asia/Shanghai")


def due_reports(interval_start: datetime) -> list[tuple[str, Period]]:
    """(kind, period) of the reports a run over an interval starting at ``interval_start`` owes."""
    day = interval_start.astimezone(REPORT_TIMEZONE).date()
    due = [("monthly", Period.of_day(day, "month"))]
    if day.month % 3 == 0:
        due.append(("quarterly", Period.of_day(day, "quarter")))
    if day.month == 12:
        due.append(("annual", Period.of_day(day, "year")))
    return due


def build_due(interval_start: datetime, interval_end: datetime) -> dict[str, Any]:
    from ncms.db import session_scope

    from .build import build_report
    from .registry import MINISTRY_LANG, current

    built, present = {}, {}
    with configured_platform() as (settings, engine):
        for kind, period in due_reports(interval_start):
            with session_scope(engine) as session:
                run = current(session, kind, period, None, MINISTRY_LANG)
                existing = run.id if run is not None else None
            if existing is not None:
                present[f"{kind} {period.label}"] = existing
                continue
            run = build_report(engine, settings, kind, period, None, MINISTRY_LANG, requested_by="scheduler",
                               today=interval_end.astimezone(REPORT_TIMEZONE).date())
            built[f"{kind} {period.label}"] = run.id
    return {"built": built, "present": present}


def publish_due() -> dict[str, Any]:
    from .publish import publish_pending

    with configured_platform() as (settings, engine):
        if settings.ministry is None:
            return {"skipped": "no ministry endpoint configured (NCMS_MINISTRY_HOST)"}
        # the scheduler's own retries pace the attempts: every pending report is tried now
        outcomes = publish_pending(engine, settings, requested_by="scheduler", due_only=False)
    sent = {o.run_id: o.outcome.value for o in outcomes if o.error is None}
    failed = {o.run_id: o.error for o in outcomes if o.error is not None}
    if failed:
        raise RuntimeError(f"{len(failed)} report(s) not delivered to the ministry (recorded, retried): "
                           + "; ".join(f"run {i}: {e}" for i, e in failed.items()))
    return {"sent": sent}
