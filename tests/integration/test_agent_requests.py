"""Requests per task with the report_batch extension (issue #13 goal 1): real agents, a real coordinator,
and a counting proxy between them."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from client.sdk import submit_request, task_spec
from tests.helpers import CountingProxy, wait_until
from tests.integration.test_agent import USER, AgentProcess, user_sdk

pytestmark = pytest.mark.integration

TASKS = 40


@pytest.fixture
def proxy(live_coordinator):
    counting = CountingProxy(live_coordinator.url)
    yield counting
    counting.close()


def _run(proxy, tmp_path, sdk, tasks: int, **env: str) -> AgentProcess:
    reqs = [submit_request(USER, task_spec(["true"]), timeout="1m") for _ in range(tasks)]
    uuids = [str(r["Ok"]["uuid"]) for r in sdk.submit_tasks(reqs)["results"]]
    # A long polling interval: the fetches counted are the protocol's, not idle polls. A long report delay:
    # exec states wait for the commit however slow the machine (a flush is one more request, never a wait).
    env = {"MITO_POLLING_INTERVAL": "60s", "MITO_REPORT_DELAY": "60s", **env}
    agent = AgentProcess(SimpleNamespace(url=proxy.url), tmp_path, "counted", **env)
    try:
        # Finished is also the state between Finish and Commit (spec ops): committed means a result.
        for uuid in uuids:
            wait_until(
                lambda u=uuid: sdk.get_task(u)["info"]["result"], timeout=120, what=f"{uuid} committed"
            )
            assert sdk.get_task(uuid)["info"]["result"] == {"exit_status": 0, "msg": None}
    except BaseException:
        agent.stop()
        raise
    return agent


def test_a_busy_agent_needs_one_claim_then_one_request_per_task(live_coordinator, proxy, tmp_path):
    with user_sdk(live_coordinator) as sdk:
        agent = _run(proxy, tmp_path, sdk, TASKS)
        wait_until(lambda: proxy.count("GET", "/workers/tasks") >= 2, what="the fetch after the last commit")
        agent.stop()
    batches, fetches = proxy.count("POST", "/workers/tasks/batch"), proxy.count("GET", "/workers/tasks")
    assert proxy.count("POST", "/workers/tasks") == 0
    assert batches == TASKS
    assert fetches == 2  # the first claim, and the one that found the queue empty
    assert (batches + fetches) / TASKS <= 2
    assert agent.log().count("committed task") == TASKS


def test_one_task_without_artifacts_costs_at_most_3_requests(live_coordinator, proxy, tmp_path):
    with user_sdk(live_coordinator) as sdk:
        agent = _run(proxy, tmp_path, sdk, 1)
        agent.stop()
    task_requests = sum(n for (method, path), n in proxy.counts.items() if path.startswith("/workers/tasks"))
    assert task_requests <= 3


def test_without_batching_the_agent_speaks_the_spec_ops(live_coordinator, proxy, tmp_path):
    with user_sdk(live_coordinator) as sdk:
        agent = _run(proxy, tmp_path, sdk, 3, MITO_BATCH_REPORTS="0")
        agent.stop()
    assert proxy.count("POST", "/workers/tasks/batch") == 0
    assert proxy.count("POST", "/workers/tasks") >= 3 * 2  # Finish and Commit at least, per task
