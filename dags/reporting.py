"""``ncms_reporting``: on the 5th of each month, the figures of the month before.

For now its one step counts what each county delivered in the month (batches, rows loaded
and refused), which the monthly report will carry; rendering and publishing to the
ministry join it as tasks when the reports are built."""
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

    month_deliveries()


reporting()
