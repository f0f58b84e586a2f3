"""``ncms_reporting``: on the 5th of each month, the reports of the month before.

Three steps: what each county delivered in the month (batches, rows loaded and refused); the
provincial reports the month owes — the monthly one, the quarterly one after a quarter's last
month, the annual one after December — built unless built already (``reports.jobs.build_due``,
the functions of ``ncms report build``); and every report the ministry does not have yet sent
to its SFTP endpoint (``reports.jobs.publish_due``, as ``ncms report publish``). A send that
fails is recorded and the task fails, so Airflow retries it with its backoff."""
from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, dag, task

from _common import DEFAULT_ARGS, START, TIMEZONE


@dag(dag_id="ncms_reporting", schedule=CronDataIntervalTimetable("0 3 5 * *", timezone=TIMEZONE),
     start_date=START, catchup=False, max_active_runs=1, default_args=DEFAULT_ARGS, tags=["ncms", "reports"])
def reporting():  # type: ignore[no-untyped-def]
    @task
    def month_deliveries(data_interval_start=None, data_interval_end=None) -> dict:  # type: ignore[no-untyped-def]
        from ncms import jobs

        return jobs.batches_received(data_interval_start, data_interval_end)

    @task
    def build_reports(data_interval_start=None, data_interval_end=None) -> dict:  # type: ignore[no-untyped-def]
        from reports import jobs

        return jobs.build_due(data_interval_start, data_interval_end)

    @task
    def publish_reports() -> dict:  # type: ignore[no-untyped-def]
        from reports import jobs

        return jobs.publish_due()

    month_deliveries() >> build_reports() >> publish_reports()


reporting()
