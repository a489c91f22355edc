"""GET /metrics of a real `mito coordinator` with two gunicorn workers: the same values whichever answers."""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from client.sdk import Mitosis
from tests.helpers import LiveCoordinator

pytestmark = pytest.mark.integration


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    with httpx.Client() as fresh:  # a new connection, so either gunicorn worker may answer
        resp = fresh.get(url + "/metrics")
    assert resp.status_code == 200, resp.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def served_by(coordinator: LiveCoordinator, path: str) -> list[dict]:
    """The access lines of `path` logged so far (a line still being written is skipped)."""
    entries = []
    for line in coordinator.log().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if entry.get("path") == path:
            entries.append(entry)
    return entries


def test_scripted_run_counts_through_two_gunicorn_workers(db_url, tmp_path, app):
    coordinator = LiveCoordinator(db_url, tmp_path, processes=2, MITO_LOG_FORMAT="json").start()
    try:
        with Mitosis(coordinator.url) as admin, Mitosis(coordinator.url) as alice:
            admin.login("mitosis_admin", "mitosis_admin", retain=True)
            admin.admin_create_user("alice", "alice-pw")
            alice.login("alice", "alice-pw", retain=True)
            worker = alice.register_worker(groups=["alice"])
            token = worker["token"]
            for _ in range(4):
                alice.submit_task(group_name="alice", args=["true"])
            for exit_status in (0, 1):  # a success, then a failure
                task = alice.worker_fetch_task(token)
                alice.worker_report_task(token, task["id"], "Finish")
                alice.worker_report_task(
                    token, task["id"], {"Commit": {"exit_status": exit_status, "msg": None}}
                )
            alice.worker_fetch_task(token)
            admin.admin_shutdown_worker(worker["worker_id"], op="Force")  # lost: its task goes back to Ready
        # Requests until both gunicorn workers have served some (the kernel picks which one accepts).
        for _ in range(400):
            with httpx.Client() as fresh:
                assert fresh.get(coordinator.url + "/health").status_code == 200
            if len({e["pid"] for e in served_by(coordinator, "/health")}) == 2:
                break
        health = served_by(coordinator, "/health")  # ours and the start-up probe's
        assert len({e["pid"] for e in health}) == 2, "both gunicorn workers served /health"
        scrapes = []
        for _ in range(200):  # scrapes until both workers have answered one
            scrapes.append(scrape(coordinator.url))
            if len({e["pid"] for e in served_by(coordinator, "/metrics")}) == 2:
                break
    finally:
        coordinator.stop()
    assert len({e["pid"] for e in served_by(coordinator, "/metrics")}) == 2, "both workers answered a scrape"

    g = (("group", "alice"),)
    expected = {
        ("mitosis_tasks", (("group", "alice"), ("state", "Ready"))): 2,
        ("mitosis_tasks", (("group", "alice"), ("state", "Finished"))): 2,
        ("mitosis_tasks", (("group", "alice"), ("state", "Running"))): 0,
        ("mitosis_task_submissions_total", g): 4,
        ("mitosis_task_claims_total", g): 3,
        ("mitosis_task_commits_total", (("group", "alice"), ("outcome", "success"))): 1,
        ("mitosis_task_commits_total", (("group", "alice"), ("outcome", "failure"))): 1,
        ("mitosis_task_losses_total", g): 1,
        ("mitosis_task_retries_total", g): 1,
        ("mitosis_claim_duration_seconds_count", (("outcome", "claimed"),)): 3,
        # every /health request, whichever process served it and whichever answers the scrape
        ("mitosis_request_duration_seconds_count", (("method", "GET"), ("route", "/health"))): len(health),
    }
    for values in scrapes:
        assert {key: values.get(key) for key in expected} == expected
