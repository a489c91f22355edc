"""`mito worker --metrics-bind`: the agent's own metrics (tasks run, state, bytes uploaded, API failures)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from client.http import ApiError
from client.sdk import Mitosis
from tests.helpers import free_port
from tests.integration.agents import Agent
from worker_agent import metrics
from worker_agent.backoff import Backoff


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_failed_calls_are_counted_by_reason():
    before = metrics.API_FAILURES.labels("503")._value.get()
    answers = iter([ApiError(503, "busy"), ApiError(0, "down"), "ok"])

    def attempt():
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert Backoff(first=0.01).retry("probe", attempt, interrupt=threading.Event()) == "ok"
    assert metrics.API_FAILURES.labels("503")._value.get() == before + 1
    assert metrics.API_FAILURES.labels("unreachable")._value.get() >= 1


def test_bad_metrics_bind_is_a_usage_error():
    with pytest.raises(ValueError, match="HOST:PORT"):
        metrics.serve("no-port-here")


@pytest.mark.integration
def test_agent_serves_tasks_state_and_bytes(live_coordinator, tmp_path, app):
    with Mitosis(live_coordinator.url) as admin:
        admin.login("mitosis_admin", "mitosis_admin", retain=True)
        admin.admin_create_user("alice", "alice-pw")
    port = free_port()
    with Mitosis(live_coordinator.url) as sdk:
        sdk.login("alice", "alice-pw", retain=True)
        agent = Agent(
            live_coordinator.url, tmp_path, "alice", "alice-pw", sdk, "--metrics-bind", f"127.0.0.1:{port}"
        )
        try:
            uuid = sdk.submit_task(group_name="alice", args=["echo", "hello"], terminal_output=True)["uuid"]
            sdk.wait_task(uuid, timeout=60, interval=0.2)
            deadline = time.monotonic() + 20
            while True:
                values = samples(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
                if values.get(("mitosis_agent_tasks_total", (("result", "committed"),))) == 1:
                    break
                assert time.monotonic() < deadline, values
                time.sleep(0.1)
        finally:
            agent.stop()
    assert values[("mitosis_agent_uploaded_bytes_total", ())] > 0
    assert values[("mitosis_agent_state", (("mitosis_agent_state", "Idle"),))] == 1
    assert values[("mitosis_agent_state", (("mitosis_agent_state", "ExecSpawned"),))] == 0
