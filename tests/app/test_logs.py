"""app.logs: a request id per request (X-Request-ID), one JSON access line with caller, task, duration."""

from __future__ import annotations

import json
import logging

import pytest

from tests.builders import make_worker
from tests.helpers import captured_logs


@pytest.fixture
def json_lines():
    """Log the coordinator's lines as JSON into a buffer; return a function reading the access lines."""
    with captured_logs("coordinator", "json") as buffer:

        def read(logger: str | None = "mito.access") -> list[dict]:
            entries = [json.loads(line) for line in buffer.getvalue().splitlines()]
            return [e for e in entries if logger is None or e["logger"] == logger]

        yield read


def submit(client, headers, **extra) -> str:
    body = {"group_name": "alice", "tags": [], "labels": [], "timeout": "1m", "priority": 0,
            "task_spec": {"args": ["true"]}, **extra}  # fmt: skip
    resp = client.post("/tasks", json=body, headers=headers)
    assert resp.status_code == 200
    return resp.get_json()["uuid"]


def test_access_line_names_user_task_status_and_duration(client, users, json_lines):
    headers = users.headers(users.create("alice"))
    uuid = submit(client, headers)
    resp = client.get(f"/tasks/{uuid}", headers=headers)
    submitted, got = json_lines()
    assert submitted["task"] == uuid and submitted["path"] == "/tasks" and submitted["user"] == "alice"
    assert got["method"] == "GET" and got["path"] == f"/tasks/{uuid}" and got["status"] == 200
    assert got["user"] == "alice" and got["task"] == uuid and got["program"] == "coordinator"
    assert isinstance(got["duration_ms"], float) and got["duration_ms"] >= 0
    assert got["request_id"] == resp.headers["X-Request-ID"] and len(got["request_id"]) == 32
    assert submitted["request_id"] != got["request_id"]


def test_worker_fetch_line_names_the_worker_and_its_task(app, client, users, json_lines):
    headers = users.headers(users.create("alice"))
    uuid = submit(client, headers)
    token = make_worker(app, "alice", {"alice": "Write"})
    resp = client.get("/workers/tasks", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200
    fetched = json_lines()[-1]
    assert fetched["task"] == uuid and "user" not in fetched
    workers = client.post("/workers/query", json={"group_name": "alice"}, headers=headers).get_json()
    assert fetched["worker"] == workers["workers"][0]["worker_id"]


def test_caller_request_id_is_kept(client, json_lines):
    resp = client.get("/health", headers={"X-Request-ID": "lb-7f3a.42"})
    assert resp.headers["X-Request-ID"] == "lb-7f3a.42"
    assert json_lines()[-1]["request_id"] == "lb-7f3a.42"


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "semi;colon", ""])
def test_unusable_request_id_is_replaced(client, json_lines, bad):
    resp = client.get("/health", headers={"X-Request-ID": bad})
    assert resp.headers["X-Request-ID"] != bad and len(resp.headers["X-Request-ID"]) == 32


def test_refused_request_is_logged_with_its_status(client, json_lines):
    resp = client.get("/tasks/00000000-0000-0000-0000-000000000000")
    assert resp.status_code == 401
    line = json_lines()[-1]
    assert line["status"] == 401 and "user" not in line
    assert line["task"] == "00000000-0000-0000-0000-000000000000"
    assert line["request_id"] == resp.headers["X-Request-ID"]


def test_lines_logged_during_a_request_carry_its_id(app, json_lines):
    with app.test_request_context("/health", headers={"X-Request-ID": "req-inside"}):
        app.preprocess_request()
        logging.getLogger("app.services").warning("inside")
    (inside,) = json_lines("app.services")
    assert inside["msg"] == "inside" and inside["request_id"] == "req-inside"
