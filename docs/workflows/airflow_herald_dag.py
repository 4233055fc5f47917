"""Airflow: run a herald job once a day in the container; the task fails on exit codes 1 and 2
(aborted, usage/config error) and on 3 (failure ratio above max_failure_ratio).

Retries are safe: herald skips everyone an earlier attempt reached (job-level dedupe), and the
run key ties the attempts of one DAG run together.
"""
from datetime import datetime

from airflow import DAG
from airflow.providers.docker.operators.docker import DockerOperator

with DAG(
    dag_id="herald_welcome_back",
    start_date=datetime(2026, 1, 1),
    schedule="0 9 * * *",
    catchup=False,
    max_active_runs=1,
) as dag:
    DockerOperator(
        task_id="send_welcome_back",
        image="ghcr.io/example/herald:0.1.0",
        command=["run", "jobs/welcome_back.yaml", "--run-key", "airflow-{{ run_id }}", "--json"],
        environment={
            "HERALD_WAREHOUSE_URL": "{{ conn.herald_warehouse.get_uri() }}",
            "META_ACCESS_TOKEN": "{{ var.value.meta_access_token }}",
            "META_PHONE_NUMBER_ID": "{{ var.value.meta_phone_number_id }}",
        },
        retries=2,
        auto_remove="success",
    )
