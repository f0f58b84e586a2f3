"""The pipeline steps as a scheduler calls them (Airflow tasks in ``dags/``).

Each builds the settings and the engine from the environment (``NCMS_*``), runs the same
function the ``ncms`` command runs, and returns only ids and counts — what a scheduler
passes between tasks. Every step is idempotent: a retry or a rerun loads nothing twice.
Times come from the caller (a data interval), never from the clock.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from .config import Settings, load_settings
from .db import create_engine, session_scope

SOURCE_TIMEZONE = ZoneInfo("Asia/Shanghai")  # county systems keep Beijing time


@contextmanager
def configured_platform() -> Iterator[tuple[Settings, Engine]]:
    """The settings and an engine built from ``NCMS_*``, disposed of afterwards (every job's,
    ``reports.jobs``' too)."""
    settings = load_settings()
    settings.ensure_dirs()
    engine = create_engine(settings.database_url)
    try:
        yield settings, engine
    finally:
        engine.dispose()


def source_time(moment: datetime) -> str:
    """A scheduler's (aware) instant as the county databases write their update times."""
    return moment.astimezone(SOURCE_TIMEZONE).strftime("%Y-%m-%d %H:%M:%S")


def etl_county(county: str, *, interval_start: datetime | None = None, interval_end: datetime | None = None,
               backfill: bool = False, url: str | None = None) -> dict[str, Any]:
    """Extract a county up to the end of the data interval (what changed since its watermark),
    or, for a backfill, re-read the interval itself (update-time streams only; watermarks stay)."""
    from .ingest.etl import run_etl
    from .ingest.mapping import load_mapping
    from .ingest.recovery import recover

    with configured_platform() as (settings, engine):
        recover(engine, settings)  # batches and work folders of a task that was killed, as `ncms etl` does
        options: dict[str, Any] = {"url": url}
        if backfill:
            if interval_start is None or interval_end is None:
                raise ValueError("a backfill needs its data interval")
            mapping = load_mapping(settings.config_dir, county)
            options.update(since=source_time(interval_start), until=source_time(interval_end),
                           streams=tuple(s for s in mapping.streams if not mapping.records[s].sequence))
        elif interval_end is not None:
            options["until_time"] = source_time(interval_end)
        result = run_etl(engine, settings, county, **options)
    return {"county": county, "batches": [b.batch_id for b in result.batches], "rows_read": result.rows_read,
            "rows_loaded": result.rows_loaded, "rows_rejected": result.rows_rejected,
            "watermarks": result.watermarks}


def ingest_inbox() -> dict[str, Any]:
    """Load every complete package the gateway has left in the spool inboxes."""
    from .ingest.inbox import ingest_inbox as take

    with configured_platform() as (settings, engine):
        results = take(engine, settings)
    return {"batches": [r.batch_id for r in results], "rows_loaded": sum(r.rows_loaded for r in results),
            "rows_rejected": sum(r.rows_rejected for r in results),
            "refused": sum(r.refused for r in results)}


def ingestion_status(as_of: datetime) -> dict[str, Any]:
    """Which counties are late on ``as_of``: no claims loaded, a period due by their expected
    cadence (province.yaml) not received, or a package missing; and each county's figures."""
    from .ingest.status import judge_all, timeliness
    from .reference import read_province

    with configured_platform() as (settings, engine), session_scope(engine) as session:
        statuses = timeliness(session)
        cadence = read_province(settings.config_dir).cadence
    day = as_of.astimezone(SOURCE_TIMEZONE).date()
    judged = judge_all(statuses, cadence, day)
    counties = {s.county_code: {"days_behind": s.days_behind(day), "behind": judged[s.county_code].describe(),
                                "missing": s.missing_sequences, "refused": s.refused_sequences, "batches": s.batches}
                for s in statuses}
    late = sorted(code for code, c in counties.items() if judged[code].late or c["missing"])
    return {"late": late, "counties": counties}


def batches_received(start: datetime, end: datetime) -> dict[str, dict[str, int]]:
    """Per county, the batches received in [start, end) and their rows loaded and refused."""
    import sqlalchemy as sa

    from .models import Batch

    with configured_platform() as (_, engine), engine.connect() as conn:
        rows = conn.execute(
            sa.select(Batch.county_code, sa.func.count(), sa.func.sum(Batch.rows_loaded), sa.func.sum(Batch.rows_rejected))
            .where(Batch.received_at >= start, Batch.received_at < end).group_by(Batch.county_code))
        return {county: {"batches": n, "rows_loaded": int(loaded or 0), "rows_rejected": int(refused or 0)}
                for county, n, loaded, refused in rows}


def monitor_rules() -> dict[str, Any]:
    """Run the rule catalogue over what arrived since its last run (``ncms monitor run
    --incremental``: a rule never run, or whose version or parameters changed, runs in full),
    and the anomaly model if anything arrived; the run's counts."""
    from .monitor import run_monitor

    with configured_platform() as (settings, engine):
        result = run_monitor(engine, settings, incremental=True, model=True)
    return {"run": result.run_id, "people": result.people, "hits": result.per_rule("hits"),
            "raised": sum(o.raised for o in result.outcomes), "closed": sum(o.closed for o in result.outcomes),
            "amount": str(result.amount)}


def source_connection_id(county: str) -> str | None:
    """The Airflow connection a county's mapping names for its database, if any."""
    from .ingest.mapping import load_mapping

    return load_mapping(load_settings().config_dir, county).conn_id
