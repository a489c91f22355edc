"""MITO_LOG_FORMAT=json on real Celery processes: each job run is one JSON line with its name and duration."""

from __future__ import annotations

import json

import pytest

from tests.helpers import wait_until
from tests.integration.procs import CeleryProcesses

pytestmark = pytest.mark.integration


def json_lines(text: str) -> list[dict]:
    entries = []
    for line in text.splitlines():
        # Celery's signal handler prints its shutdown notice itself, outside logging (celery/apps/worker.py).
        if not line or line.startswith("worker: ") and line.endswith("shutdown (MainProcess)"):
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"not a JSON line: {line!r}")
    return entries


def test_celery_worker_and_beat_write_json_lines(db_url, tmp_path, redis_db, app, client):
    procs = CeleryProcesses(
        db_url, tmp_path / "celery", redis_db, MITO_LOG_FORMAT="json", MITO_JOBS_INTERVAL_SCALE="0.01",
        # Tests run as root, and Celery warns about it before any logging is set up: not a production line.
        PYTHONWARNINGS="ignore:You're running the worker with superuser privileges",
    ).start(quiet=True)  # fmt: skip
    try:
        wait_until(lambda: '"job": "jobs.workers.reap"' in procs.log("worker"), what="a job run", procs=procs)
    finally:
        procs.stop()
    runs = [e for e in json_lines(procs.log("worker")) if e["logger"] == "mito.jobs"]
    reap = next(e for e in runs if e["job"] == "jobs.workers.reap")
    assert reap["state"] == "SUCCESS" and reap["duration_ms"] >= 0 and reap["program"] == "jobs"
    assert reap["request_id"]  # the Celery task id
    assert any(e["logger"].startswith("celery") for e in json_lines(procs.log("beat")))
    # and each run is counted for /metrics, in the database every coordinator reads
    scraped = client.get("/metrics").get_data(as_text=True)
    assert 'mitosis_job_runs_total{job="jobs.workers.reap",outcome="success"}' in scraped
