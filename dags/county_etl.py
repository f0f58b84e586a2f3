"""One ETL DAG per centralised county (``ncms_etl_<county>``), generated from config/province.yaml.

Nightly at 02:00 Beijing time it extracts what changed in the county's database up to the
end of its data interval (``ncms etl COUNTY`` with that bound) and loads it; the source is
the Airflow connection the county's mapping names (``conn_id``), else its ``NCMS_SOURCE_*``
variable. A backfill run (``airflow backfill create``) re-reads its interval instead,
leaving the watermarks alone. Runs of one county never overlap; counties run side by side.
"""
from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, dag, task

from _common import DEFAULT_ARGS, START, TIMEZONE, etl_counties


def _connection_uri(conn_id: str | None) -> str | None:
    if not conn_id:
        return None
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import Connection

    try:
        return Connection.get(conn_id).get_uri()
    except AirflowNotFoundException:
        return None  # fall back to the NCMS_SOURCE_<county> variable


def county_dag(county: str, name: str):  # type: ignore[no-untyped-def]
    @dag(dag_id=f"ncms_etl_{county}", description=f"ETL from the NCMS database of {name} ({county})",
         schedule=CronDataIntervalTimetable("0 2 * * *", timezone=TIMEZONE), start_date=START, catchup=False,
         max_active_runs=1, default_args=DEFAULT_ARGS, tags=["ncms", "etl", county])
    def extract():  # type: ignore[no-untyped-def]
        @task
        def extract_and_load(data_interval_start=None, data_interval_end=None, dag_run=None) -> dict:  # type: ignore[no-untyped-def]
            from ncms import jobs

            url = _connection_uri(jobs.source_connection_id(county))
            return jobs.etl_county(county, interval_start=data_interval_start, interval_end=data_interval_end,
                                   backfill=dag_run is not None and dag_run.run_type == "backfill", url=url)

        extract_and_load()

    return extract()


for _code, _name in etl_counties():
    globals()[f"ncms_etl_{_code}"] = county_dag(_code, _name)
