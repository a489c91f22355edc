"""A real `mito coordinator` process (gunicorn): it serves, and an admin shutdown stops it cleanly."""

from __future__ import annotations

import http.client
import json
import subprocess
import threading
import time

import httpx
import pytest

from tests.helpers import LiveCoordinator, md5_list


def test_live_coordinator_serves_health(live_coordinator):
    assert httpx.get(live_coordinator.url + "/health").json() == {"status": "ok"}


def test_an_idle_keep_alive_connection_stays_open_longer_than_clients_keep_it(live_coordinator):
    """httpx (the SDK, the CLI, the agent) drops an idle connection after 5 s. Had the coordinator closed it
    sooner (gunicorn's default: 2 s), a request sent as it closed would fail with "Server disconnected
    without sending a response" (it did, in CI). After 3 s idle the same connection still answers."""
    conn = http.client.HTTPConnection("127.0.0.1", live_coordinator.port, timeout=10)
    try:
        for idle in (3.0, 0.0):
            conn.request("GET", "/health")  # http.client reconnects only when it closed the socket itself
            response = conn.getresponse()
            assert (response.status, json.loads(response.read())) == (200, {"status": "ok"})
            time.sleep(idle)
    finally:
        conn.close()


@pytest.mark.integration
def test_admin_shutdown_stops_live_coordinator_cleanly(db_url, app, tmp_path):
    """Wrong secret: 403, still serving; right secret: 200, an in-flight request completes, then exit 0."""
    coordinator = LiveCoordinator(db_url, tmp_path, processes=2).start()
    body_started, release_body, in_flight = threading.Event(), threading.Event(), {}
    credentials = {"username": "mitosis_admin", "md5_password": md5_list("mitosis_admin")}

    def slow_body():
        raw = json.dumps(credentials).encode()
        yield raw[:10]
        body_started.set()
        release_body.wait(30)
        yield raw[10:]

    def slow_login():
        with httpx.Client(base_url=coordinator.url, timeout=60) as slow:
            in_flight["resp"] = slow.post(
                "/login", content=slow_body(), headers={"Content-Type": "application/json"}
            )

    try:
        with httpx.Client(base_url=coordinator.url, timeout=10) as http:
            headers = {"Authorization": f"Bearer {http.post('/login', json=credentials).json()['token']}"}
            assert http.post("/admin/shutdown", json={"secret": "wrong"}, headers=headers).status_code == 403
            assert http.get("/health").status_code == 200
            slow = threading.Thread(target=slow_login)
            slow.start()
            assert body_started.wait(10)
            resp = http.post("/admin/shutdown", json={"secret": "test-shutdown-secret"}, headers=headers)
            assert resp.status_code == 200
        wait_for_log(coordinator, "Handling signal: term")
        release_body.set()
        slow.join(60)
        assert in_flight["resp"].status_code == 200
        assert "token" in in_flight["resp"].json()
        assert coordinator.proc.wait(timeout=60) == 0
    except subprocess.TimeoutExpired:
        pytest.fail(f"coordinator did not exit after shutdown; log:\n{coordinator.log()}")
    finally:
        release_body.set()
        coordinator.stop()


def wait_for_log(coordinator, text: str) -> None:
    """Wait (bounded) until the coordinator's log shows `text`."""
    for _ in range(300):
        if text in coordinator.log():
            return
        time.sleep(0.1)
    pytest.fail(f"{text!r} not in the coordinator log:\n{coordinator.log()}")
