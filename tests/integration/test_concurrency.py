"""Eight agents in one group against a live coordinator: no deadlock surfaces as a 5xx (issue 12 item 1).

Each thread speaks the agent protocol over HTTP (register, fetch, Upload + PUT, Finish, Commit, and a
re-registration half-way), so Upload/Commit report ops and `POST /workers` of one group race in two
gunicorn processes. A lock order violation on PostgreSQL shows up as a deadlock 500.
"""

from __future__ import annotations

import threading

import httpx
import pytest

from client.http import ApiError, HttpClient
from client.sdk import Mitosis
from client.worker_api import WorkerApi
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.helpers import LiveCoordinator

pytestmark = pytest.mark.integration

AGENTS = 8
TASKS = 160
PAYLOAD = b"x" * 64


def _agent(url: str, errors: list[str], done: list[int]) -> None:
    # no keep-alive: a connection the server closes as idle would be reset under a reused request
    http = httpx.Client(base_url=url, timeout=60, limits=httpx.Limits(max_keepalive_connections=0))
    api = WorkerApi(HttpClient(url, None, transport=http))
    committed = 0
    try:
        user_token = api.login(ADMIN_USER, ADMIN_PASSWORD)

        def register() -> None:
            api.register(user_token, tags=[], groups=[ADMIN_USER])

        register()
        while True:
            task = api.fetch()
            if task is None:
                break
            task_id = int(task["id"])
            put_url = api.report_upload(task_id, "result", len(PAYLOAD))
            put = httpx.put(put_url, content=PAYLOAD, timeout=60)
            if put.status_code >= 500:
                errors.append(f"PUT {put.status_code}: {put.text[:200]}")
            api.report_finish(task_id)
            api.report_commit(task_id, 0)
            committed += 1
            if committed == 5:
                api.unregister()
                register()
    except ApiError as exc:
        errors.append(f"{exc.status}: {exc}")
    finally:
        done.append(committed)
        api.http.close()


def test_eight_agents_in_one_group_see_no_5xx(app_ctx, db_url, tmp_path):
    coordinator = LiveCoordinator(db_url, tmp_path / "coordinator", processes=2).start()
    sdk = Mitosis(coordinator.url)
    try:
        sdk.login(ADMIN_USER, ADMIN_PASSWORD)
        reqs = [
            {"group_name": ADMIN_USER, "task_spec": {"args": ["true"]}, "timeout": "1m"} for _ in range(TASKS)
        ]
        for start in range(0, TASKS, 40):
            results = sdk.submit_tasks(reqs[start : start + 40])["results"]
            assert all("Ok" in r for r in results), results[:1]
        errors: list[str] = []
        done: list[int] = []
        threads = [
            threading.Thread(target=_agent, args=(coordinator.url, errors, done)) for _ in range(AGENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
        assert errors == []
        assert sum(done) == TASKS
        assert sdk.query_tasks(group_name=ADMIN_USER, states=["Finished"], count=True)["count"] == TASKS
        assert "deadlock" not in coordinator.log().lower()
    finally:
        sdk.close()
        coordinator.stop()
