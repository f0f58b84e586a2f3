"""``ncms_gateway_inbox``: every 15 minutes, load what the SFTP gateway has delivered
(``ncms ingest --inbox``). A package leaves the inbox once its batch is recorded."""
from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

from _common import DEFAULT_ARGS, START


@dag(dag_id="ncms_gateway_inbox", schedule=timedelta(minutes=15), start_date=START, catchup=False,
     max_active_runs=1, default_args=DEFAULT_ARGS, tags=["ncms", "gateway"])
def gateway_inbox():  # type: ignore[no-untyped-def]
    @task
    def load_inbox() -> dict:
        from ncms import jobs

        return jobs.ingest_inbox()

    load_inbox()


gateway_inbox()
