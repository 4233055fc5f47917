"""Airflow: run a herald job once a day, two ways.

1. ``herald_welcome_back`` (recommended): call a running ``herald serve`` over HTTP. The trigger
   POSTs /runs once with a run key made from the DAG run (``airflow-<dag_id>-<run_id>``); a retry
   of the task, or of the whole DAG run, sends the same key and so resumes the same herald run
   (rows already sent are never sent again) instead of starting another. The sensor polls
   ``GET /runs/<run_id>`` (never re-POSTs) until the run is no longer queued/running; the check
   fails the DAG run when the run did not succeed or its exit code is not 0.
   Connection ``herald_api``: HTTP, host = herald serve's URL, password = its HERALD_API_TOKEN.
   Needs apache-airflow-providers-http.

2. ``herald_welcome_back_container``: run the CLI in the container, where the exit code is the
   outcome (1 aborted, 2 usage/config error, 3 failure ratio above max_failure_ratio). The image
   ships only jobs/demo.yaml: mount your jobs folder over /app/jobs (below), or build a derived
   image, ``FROM ghcr.io/example/herald:0.1.0`` + ``COPY jobs/ /app/jobs/``.

The constants below are what test/workflows/recipes.test.ts sends to a real ``herald serve``.
"""
import json
from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.http.operators.http import HttpOperator
from airflow.providers.http.sensors.http import HttpSensor

HERALD_CONN_ID = "herald_api"
JOB = "welcome_back"
RUN_KEY = "airflow-{{ dag.dag_id }}-{{ run_id }}"
TRIGGER_METHOD = "POST"
TRIGGER_ENDPOINT = "runs"
TRIGGER_BODY = {"job": JOB, "run_key": RUN_KEY, "params": {"session_date": "{{ ds }}"}}
STATUS_ENDPOINT = "runs/{{ ti.xcom_pull(task_ids='trigger') }}"
HEADERS = {"Authorization": "Bearer {{ conn.herald_api.password }}", "Content-Type": "application/json"}
UNFINISHED = ["queued", "running"]
POLL_SECONDS = 30
POLL_TIMEOUT_SECONDS = 2 * 60 * 60


def _finished(response):
    return response.json()["status"] not in UNFINISHED


def _succeeded(response):
    run = response.json()
    return run["status"] == "succeeded" and (run.get("exit_code") or 0) == 0


with DAG(
    dag_id="herald_welcome_back",
    start_date=datetime(2026, 1, 1),
    schedule="0 9 * * *",
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=2)},
) as dag:
    trigger = HttpOperator(
        task_id="trigger",
        http_conn_id=HERALD_CONN_ID,
        method=TRIGGER_METHOD,
        endpoint=TRIGGER_ENDPOINT,
        data=json.dumps(TRIGGER_BODY),
        headers=HEADERS,
        response_filter=lambda response: response.json()["run_id"],  # to XCom for the sensor
    )
    wait = HttpSensor(
        task_id="wait",
        http_conn_id=HERALD_CONN_ID,
        method="GET",
        endpoint=STATUS_ENDPOINT,
        headers=HEADERS,
        response_check=_finished,
        poke_interval=POLL_SECONDS,
        timeout=POLL_TIMEOUT_SECONDS,
        mode="reschedule",  # frees the worker slot between polls
    )
    check = HttpOperator(
        task_id="check",
        http_conn_id=HERALD_CONN_ID,
        method="GET",
        endpoint=STATUS_ENDPOINT,
        headers=HEADERS,
        response_check=_succeeded,
        retries=0,
    )
    trigger >> wait >> check


with DAG(
    dag_id="herald_welcome_back_container",
    start_date=datetime(2026, 1, 1),
    schedule="0 9 * * *",
    catchup=False,
    max_active_runs=1,
) as container_dag:
    from airflow.providers.docker.operators.docker import DockerOperator
    from docker.types import Mount

    DockerOperator(
        task_id="send_welcome_back",
        image="ghcr.io/example/herald:0.1.0",
        # The same key on every try of this DAG run: a retry resumes the run.
        command=["run", "jobs/welcome_back.yaml", "--run-key", RUN_KEY, "--json"],
        mounts=[Mount(source="/opt/herald/jobs", target="/app/jobs", type="bind", read_only=True)],
        environment={
            "HERALD_WAREHOUSE_URL": "{{ conn.herald_warehouse.get_uri() }}",
            "META_ACCESS_TOKEN": "{{ var.value.meta_access_token }}",
            "META_PHONE_NUMBER_ID": "{{ var.value.meta_phone_number_id }}",
        },
        retries=2,
        auto_remove="success",
    )
