"""``ncms_monitoring``: every morning, after the nightly extracts, check the fund's data.

Two steps: the ingestion check (``ncms ingest status``: which county is late, which package
never arrived) and the supervision rules over what arrived since their last run
(``ncms monitor run --incremental``); the anomaly model joins them when it is built."""
from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, dag, task

from _common import DEFAULT_ARGS, START, TIMEZONE


@dag(dag_id="ncms_monitoring", schedule=CronDataIntervalTimetable("0 6 * * *", timezone=TIMEZONE),
     start_date=START, catchup=False, max_active_runs=1, default_args=DEFAULT_ARGS, tags=["ncms", "monitoring"])
def monitoring():  # type: ignore[no-untyped-def]
    @task
    def ingestion_status(data_interval_end=None) -> dict:  # type: ignore[no-untyped-def]
        from ncms import jobs

        return jobs.ingestion_status(data_interval_end)

    @task
    def supervision_rules() -> dict:  # type: ignore[no-untyped-def]
        from ncms import jobs

        return jobs.monitor_rules()

    ingestion_status() >> supervision_rules()


monitoring()
