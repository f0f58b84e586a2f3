"""The Airflow DAGs: they load in the real DagBag fast and touch nothing while parsed, their
data intervals drive the ETL windows, and one runs end to end with ``airflow dags test``."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from ncms import jobs
from ncms.db import session_scope
from ncms.ingest.etl import read_watermark
from ncms.models import Batch, BatchSource, Claim, Member
from ncms.monitor import CATALOGUE
from ncms.monitor.anomaly import MODEL

from .conftest import CONFIG_DIR, ROOT
from .packages import county_database

pytest.importorskip("airflow", reason="Airflow is in the test environment (make install-test)")

DAGS = ROOT / "dags"
AIRFLOW = Path(sys.executable).with_name("airflow")
EXPECTED = {"ncms_etl_520121", "ncms_etl_520123", "ncms_etl_520323", "ncms_gateway_inbox", "ncms_monitoring",
            "ncms_reporting"}

# Parsed as the dag processor parses a bundle, in a fresh interpreter whose sockets refuse to
# connect: a DAG file that reached for a database or the network at import would fail here.
PARSE = """
import json, socket, sys, time
from pathlib import Path
def refuse(*args, **kwargs):
    raise AssertionError(f"network touched while parsing: {args}")
socket.socket.connect = refuse
socket.create_connection = refuse
from airflow.dag_processing.dagbag import BundleDagBag
started = time.perf_counter()
bag = BundleDagBag(dag_folder=sys.argv[1], bundle_path=Path(sys.argv[1]))
seconds = time.perf_counter() - started
dags = {i: {"retries": d.default_args.get("retries"), "tasks": sorted(t.task_id for t in d.tasks),
            "timetable": type(d.timetable).__name__, "catchup": d.catchup, "max_active_runs": d.max_active_runs,
            "start": d.start_date.isoformat() if d.start_date else None} for i, d in bag.dags.items()}
print(json.dumps({"errors": bag.import_errors, "seconds": seconds, "dags": dags,
                  "ncms_imported": sorted(m for m in sys.modules if m in ("ncms", "reports") or m.startswith(("ncms.", "reports.")))}))
"""


def airflow_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    home = tmp_path / "airflow"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "NCMS_"))}
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__DAGS_FOLDER=str(DAGS), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}", NCMS_CONFIG_DIR=str(CONFIG_DIR))
    env.update(extra)
    return env


def test_the_dagbag_loads_every_dag_fast_touching_nothing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = airflow_env(tmp_path, NCMS_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    done = subprocess.run([sys.executable, "-c", PARSE, str(DAGS)], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert set(report["dags"]) == EXPECTED  # one ETL DAG per etl county of config/province.yaml
    assert report["seconds"] < 2, report["seconds"]
    assert report["ncms_imported"] == []  # ncms and reports are imported inside tasks only
    for dag_id, dag in report["dags"].items():
        assert dag["retries"] >= 1 and dag["max_active_runs"] == 1 and dag["catchup"] is False, dag_id
        assert dag["start"] == "2025-12-31T16:00:00+00:00", dag_id  # 2026-01-01 in Beijing: fixed, never the clock
    assert report["dags"]["ncms_etl_520121"]["tasks"] == ["extract_and_load"]
    assert report["dags"]["ncms_etl_520121"]["timetable"] == "CronDataIntervalTimetable"
    assert report["dags"]["ncms_reporting"]["tasks"] == ["build_reports", "month_deliveries", "publish_reports"]


def test_no_dag_file_reads_the_clock() -> None:
    for path in DAGS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for clock in ("now(", "utcnow", "today(", "time.time"):
            assert clock not in text, f"{path.name} reads the clock ({clock})"


@pytest.fixture
def county_source(tmp_path):  # type: ignore[no-untyped-def]
    """Vendor B's database of county 520123 (SQLite), from the synthetic province."""
    county, url = "520123", f"sqlite:///{tmp_path / 'county-520123.db'}"
    return county, url, county_database(url, county, seed=4)


def test_the_data_interval_bounds_the_window_and_a_backfill_rereads_it(province_env, county_source) -> None:  # type: ignore[no-untyped-def]
    engine, settings = province_env
    county, url, frames = county_source
    mid_year = datetime(2011, 6, 30, 16, 0, tzinfo=timezone.utc)  # 2011-07-01 00:00 in Beijing
    first = jobs.etl_county(county, interval_end=mid_year, url=url)
    assert first["watermarks"]["claim"] < "2011-07-01 00:00:00"
    assert first["watermarks"]["member"] == str(frames["member"].height)  # a sequence: no date bounds it
    first_half = frames["claim"].filter(pl.col("settlement_date") < "2011-07-01").height
    with session_scope(engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Claim)) == first_half
        assert s.scalar(sa.select(sa.func.count()).select_from(Member)) == frames["member"].height

    march = (datetime(2011, 2, 28, 16, 0, tzinfo=timezone.utc), datetime(2011, 3, 31, 16, 0, tzinfo=timezone.utc))
    backfill = jobs.etl_county(county, interval_start=march[0], interval_end=march[1], backfill=True, url=url)
    in_march = frames["claim"].filter(pl.col("settlement_date").str.starts_with("2011-03"))
    items = frames["claim_item"].join(in_march, on="claim_id", how="semi").height
    assert backfill["rows_read"] == in_march.height + items  # claims and items only: no sequence streams
    assert read_watermark(engine, county, "claim") == first["watermarks"]["claim"]  # a backfill moves nothing

    rest = jobs.etl_county(county, interval_end=datetime(2012, 1, 1, tzinfo=timezone.utc), url=url)
    with session_scope(engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Claim)) == frames["claim"].height
    second_half = frames["claim"].filter(pl.col("settlement_date") >= "2011-07-01")
    assert rest["rows_read"] == second_half.height + frames["claim_item"].join(second_half, on="claim_id",
                                                                              how="semi").height


@pytest.fixture
def province_env(loaded_engine, settings, monkeypatch):  # type: ignore[no-untyped-def]
    """The provincial database and data folder as ncms.jobs finds them: in NCMS_* variables."""
    monkeypatch.setenv("NCMS_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("NCMS_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("NCMS_CONFIG_DIR", str(settings.config_dir))
    return loaded_engine, settings


def test_a_county_dag_runs_end_to_end_with_airflow_dags_test(tmp_path, province_env, mariadb_url) -> None:  # type: ignore[no-untyped-def]
    """The real CLI, a real metadata database; the county's database is an Airflow connection."""
    engine, settings = province_env
    county = "520121"
    frames = county_database(mariadb_url, county, seed=6)
    uri = sa.engine.make_url(mariadb_url).set(drivername="mysql").render_as_string(hide_password=False)
    env = airflow_env(tmp_path, NCMS_DATABASE_URL=settings.database_url, NCMS_DATA_DIR=str(settings.data_dir),
                      AIRFLOW_CONN_NCMS_SOURCE_520121=uri)
    migrate = subprocess.run([str(AIRFLOW), "db", "migrate"], env=env, capture_output=True, text=True, timeout=300)
    assert migrate.returncode == 0, migrate.stderr[-3000:]

    done = subprocess.run([str(AIRFLOW), "dags", "test", f"ncms_etl_{county}", "2026-11-28"], env=env,
                          capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-5000:]
    assert "state=success" in output
    with session_scope(engine) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Claim)) == frames["claim"].height
        assert {b.source for b in s.scalars(sa.select(Batch))} == {BatchSource.ETL}
    assert read_watermark(engine, county, "financing") == str(frames["financing"].height)


def test_the_monitoring_and_reporting_steps_report_late_counties_and_the_months_deliveries(province_env,
                                                                                          county_source) -> None:  # type: ignore[no-untyped-def]
    engine, settings = province_env
    county, url, frames = county_source
    jobs.etl_county(county, url=url)
    status = jobs.ingestion_status(datetime(2012, 2, 1, tzinfo=timezone.utc))
    assert status["counties"][county]["days_behind"] == 32  # its claims end 2011-12-31
    assert county not in status["late"]
    assert "520122" in status["late"]  # a gateway county that sent nothing
    assert county in jobs.ingestion_status(datetime(2012, 6, 1, tzinfo=timezone.utc))["late"]

    with session_scope(engine) as s:
        received = s.scalar(sa.select(sa.func.max(Batch.received_at)))
    around = jobs.batches_received(received - timedelta(days=1), received + timedelta(days=1))
    assert around == {county: {"batches": 4, "rows_loaded": sum(f.height for f in frames.values()),
                              "rows_rejected": 0}}
    assert jobs.batches_received(datetime(2011, 1, 1, tzinfo=timezone.utc),
                                 datetime(2011, 2, 1, tzinfo=timezone.utc)) == {}

    rules = jobs.monitor_rules()  # the first run: every rule in full, and the anomaly model
    assert set(rules["hits"]) == {rule.code for rule in CATALOGUE} | {MODEL.code}
    assert rules["raised"] == sum(rules["hits"].values())
    assert rules["people"] is None and rules["raised"] > 0
    again = jobs.monitor_rules()  # then only what arrived since: nothing, and no model run
    assert again["people"] == 0 and again["raised"] == again["closed"] == 0 and MODEL.code not in again["hits"]
