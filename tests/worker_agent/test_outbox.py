"""The agent with the report_batch extension (issue #13 goal 1), against the in-memory coordinator: how many
requests a task costs, and exec states that travel batched without holding the task up."""

from __future__ import annotations

import pytest

from tests.worker_agent.test_agent import committed, run_until, start, stop, wait_for
from worker_agent.backoff import Backoff
from worker_agent.control import Control
from worker_agent.link import Link
from worker_agent.outbox import Outbox
from worker_agent.task import TaskRun
from worker_agent.workspace import Workspace

TASK_ROUTES = ("/workers/tasks", "/workers/tasks/batch")


@pytest.fixture
def lean(fake):
    fake.features = ["report_batch"]
    return fake


def _task_requests(fake) -> list[tuple[str, str]]:
    return [(m, p) for m, p in fake.requests if p in TASK_ROUTES]


def test_a_task_without_artifacts_costs_a_claim_and_a_commit(lean, make_agent):
    uuid = lean.add_task(["true"])
    run_until(make_agent(report_delay=30.0), committed(lean, uuid))
    requests = _task_requests(lean)
    assert requests[:2] == [("GET", "/workers/tasks"), ("POST", "/workers/tasks/batch")]
    assert ("POST", "/workers/tasks") not in requests
    assert lean.tasks[uuid]["result"] == {"exit_status": 0, "msg": None}
    ops = lean.ops(uuid)
    assert ops == ["Finish", {"Commit": {"exit_status": 0, "msg": None}}]
    states = lean.tasks[uuid]["exec_states"]
    assert states[0] == "FetchResource" and states[-1] == "UploadResultFinished"


def test_a_busy_agent_gets_each_next_task_from_the_commit(lean, make_agent):
    uuids = [lean.add_task(["true"]) for _ in range(5)]
    run_until(make_agent(report_delay=30.0), lambda: all(committed(lean, u)() for u in uuids))
    requests = _task_requests(lean)
    assert requests.count(("POST", "/workers/tasks/batch")) == 5
    assert requests[0] == ("GET", "/workers/tasks")
    assert requests[1:6] == [("POST", "/workers/tasks/batch")] * 5


def test_each_batch_names_the_attempt_its_claim_answered(lean, make_agent):
    uuids = [lean.add_task(["true"]) for _ in range(3)]
    run_until(make_agent(report_delay=30.0), lambda: all(committed(lean, u)() for u in uuids))
    ids = {lean.tasks[u]["id"] for u in uuids}
    assert {task_id for task_id, _ in lean.batch_attempts} == ids
    assert all(attempt == 1 for _, attempt in lean.batch_attempts), lean.batch_attempts


def test_exec_states_of_a_long_task_arrive_while_it_runs(lean, make_agent):
    uuid = lean.add_task(["sleep", "3"])
    agent = make_agent(report_delay=0.05)
    thread = start(agent)
    try:
        wait_for(lambda: lean.tasks[uuid]["exec_state"] == "ExecSpawned")
        assert lean.tasks[uuid]["exec_state"] == "ExecSpawned"
        assert lean.tasks[uuid]["result"] is None
        wait_for(committed(lean, uuid))
    finally:
        stop(agent, thread)
    assert lean.tasks[uuid]["result"] == {"exit_status": 0, "msg": None}


def test_an_upload_carries_the_queued_finish_and_states(lean, make_agent, tmp_path):
    uuid = lean.add_task(["sh", "-c", 'echo hi > "$MITO_RESULT_DIR/out.txt"'])
    run_until(make_agent(report_delay=30.0), committed(lean, uuid))
    assert lean.artifact(uuid, "result") is not None
    requests = _task_requests(lean)
    assert requests[:3] == [("GET", "/workers/tasks")] + [("POST", "/workers/tasks/batch")] * 2
    finish, upload = lean.ops(uuid)[:2]
    assert finish == "Finish" and upload["Upload"]["content_type"] == "result"


def test_a_refused_submit_keeps_the_queued_ops_for_the_commit(lean, make_agent):
    uuid = lean.add_task(["sh", "-c", 'echo \'{"group_name": "g"}\' > "$MITO_NEW_TASK"'])
    lean.fail_next["POST /workers/tasks/batch"] = [400]
    run_until(make_agent(report_delay=30.0), committed(lean, uuid))
    assert lean.ops(uuid) == ["Finish", {"Commit": {"exit_status": 0, "msg": "SubmitNewTaskFailed"}}]


def test_without_the_extension_each_op_is_its_own_request(fake, make_agent):
    uuid = fake.add_task(["true"])
    run_until(make_agent(), committed(fake, uuid))
    assert ("POST", "/workers/tasks/batch") not in fake.requests
    assert fake.ops(uuid) == ["Finish", {"Commit": {"exit_status": 0, "msg": None}}]
    assert fake.tasks[uuid]["exec_states"][0] == "FetchResource"


class _Api:
    """What the flusher calls: report_batch, recorded."""

    def __init__(self):
        self.batches: list[tuple[int, list]] = []

    def report_batch(self, task_id, ops, *, claim_next=False, attempt=None):
        self.batches.append((task_id, ops))
        return {"urls": []}


def _run(tmp_path, task_id: int) -> TaskRun:
    task = {"id": task_id, "uuid": f"00000000-0000-4000-8000-{task_id:012d}", "spec": {"args": ["true"]}}
    return TaskRun(task=task, workspace=Workspace(tmp_path / str(task_id)))


def test_a_state_queued_while_the_flusher_waits_for_an_earlier_one_is_flushed_too(tmp_path):
    api = _Api()
    outbox = Outbox(Link(api, Backoff(), Control()), delay=0.2)
    outbox.batched = True
    outbox.start()
    try:
        first, second = _run(tmp_path, 1), _run(tmp_path, 2)
        outbox.put(first, {"ExecState": "ExecPending"})  # the flusher now waits for the first's due time
        outbox.settle(first)  # committed meanwhile: nothing of it is left to flush
        outbox.put(second, {"ExecState": "ExecSpawned"})  # due later: the flusher is not woken for it
        wait_for(lambda: api.batches)
    finally:
        outbox.close()
    assert api.batches == [(2, [{"ExecState": "ExecSpawned"}])]
