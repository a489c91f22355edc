"""Retry policies through the API (issue #14 item 2): which commits start another attempt, when that attempt
becomes claimable, where it queues, what is recorded, and the policies refused (400, nothing created)."""

from __future__ import annotations

import uuid as uuid_mod
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import db
from app.models import ActiveTask, ArchivedTask, TaskAttempt, TaskState
from mito.vocab.retries import parse_retry_on, retry_delay


def _submit(sched, headers, retry=None, expect=200, **fields):
    body = {"group_name": "alice", "task_spec": {"args": ["true"]}, **fields}
    if retry is not None:
        body["retry"] = retry
    resp = sched.client.post("/tasks", json=body, headers=headers)
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def _commit(sched, worker, task, exit_status, msg=None):
    sched.report(worker, task["id"], "Finish" if msg is None else "Cancel")
    sched.report(worker, task["id"], {"Commit": {"exit_status": exit_status, "msg": msg}})


def _get(sched, headers, uuid):
    resp = sched.client.get(f"/tasks/{uuid}", headers=headers)
    assert resp.status_code == 200
    return resp.get_json()


def _tasks(app) -> int:
    with app.app_context():
        return sum(
            db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (ActiveTask, ArchivedTask)
        )


@pytest.mark.parametrize(
    "retry",
    [
        {"retries": -1},
        {"retries": 101},
        {"retries": "3"},
        {"retries": 2, "on": ["sometimes"]},
        {"retries": 2, "on": []},
        {"retries": 2, "on": ["exit:0"]},
        {"retries": 2, "on": ["timeout:3"]},
        {"retries": 2, "delay": "2d"},
        {"retries": 2, "delay": 30},
        {"retries": 2, "backoff": "sometimes"},
        {"retries": 2, "tries": 3},
        {"on": ["exit"]},
        "3",
    ],
)
def test_a_malformed_policy_is_400_and_creates_nothing(sched, alice, app, retry):
    before = _tasks(app)
    body = _submit(sched, alice, retry=retry, expect=400)
    assert body["msg"] and "retry" in body["errors"]["json"]
    assert _tasks(app) == before


def test_batch_submit_refuses_only_the_item_with_a_bad_policy(sched, alice, app):
    good = {"group_name": "alice", "task_spec": {"args": ["true"]}, "retry": {"retries": 1}}
    bad = {**good, "retry": {"retries": 1, "on": ["never"]}}
    resp = sched.client.post("/tasks/submit", json={"tasks": [good, bad]}, headers=alice)
    results = resp.get_json()["results"]
    assert "Ok" in results[0] and "never" in results[1]["Err"]["msg"]
    info = _get(sched, alice, results[0]["Ok"]["uuid"])["info"]
    assert info["retry"] == {"retries": 1, "on": ["exit", "lost", "signal", "timeout"], "delay": "0s",
                             "backoff": "fixed"}  # fmt: skip


def test_a_task_without_policy_keeps_the_spec_shape_and_lists_its_attempts(sched, alice):
    uuid = _submit(sched, alice)["uuid"]
    worker = sched.register(alice)
    task = sched.fetch(worker)
    _commit(sched, worker, task, 3)
    body = _get(sched, alice, uuid)
    assert "retry" not in body["info"] and "retry_count" not in body["info"]
    assert body["info"]["state"] == "Finished" and body["info"]["result"]["exit_status"] == 3
    [attempt] = body["attempts"]
    assert (attempt["number"], attempt["end"], attempt["exit_status"], attempt["worker_uuid"]) == (
        1, "exit", 3, worker["worker_id"],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("on", "exit_status", "msg", "retried"),
    [
        (["exit:1,2"], 2, None, True),
        (["exit:1,2"], 3, None, False),
        (["exit"], 0, None, False),
        (["signal:9"], -9, None, True),
        (["signal:9"], -15, None, False),
        (["exit"], -9, None, False),
        (["timeout"], -15, "ExecTimeout", True),
        (["exit", "signal", "timeout"], -15, "UserCancellation", False),
        (["exit", "signal", "timeout"], 0, "ResourceNotFound", False),
    ],
)
def test_which_failures_a_policy_retries(sched, alice, on, exit_status, msg, retried):
    uuid = _submit(sched, alice, retry={"retries": 1, "on": on})["uuid"]
    worker = sched.register(alice)
    _commit(sched, worker, sched.fetch(worker), exit_status, msg)
    info = _get(sched, alice, uuid)["info"]
    assert info["state"] == ("Ready" if retried else ("Finished" if msg is None else "Cancelled"))
    assert info["retry_count"] == int(retried)


def test_a_retried_task_keeps_its_uuid_and_its_place_and_stops_when_retries_run_out(sched, alice, app):
    first = _submit(sched, alice, retry={"retries": 2, "on": ["exit:1"]})["uuid"]
    second = _submit(sched, alice)["uuid"]
    worker = sched.register(alice)
    for attempt in (1, 2, 3):
        task = sched.fetch(worker)
        assert task["uuid"] == first, f"attempt {attempt} went behind the later task"
        _commit(sched, worker, task, 1)
    body = _get(sched, alice, first)
    assert (body["info"]["state"], body["info"]["retry_count"]) == ("Finished", 2)
    assert [a["number"] for a in body["attempts"]] == [1, 2, 3]
    assert sched.fetch(worker)["uuid"] == second


def test_a_delayed_retry_waits_pending_and_is_not_claimable_before_its_time(sched, alice, app):
    uuid = _submit(sched, alice, retry={"retries": 1, "on": ["exit"], "delay": "1h"})["uuid"]
    worker = sched.register(alice)
    _commit(sched, worker, sched.fetch(worker), 1)
    body = _get(sched, alice, uuid)
    assert body["info"]["state"] == "Pending" and body["attempts"][0]["retry_at"] is not None
    assert sched.fetch(worker) is None
    explained = sched.client.get(f"/tasks/{uuid}/explain", headers=alice).get_json()
    assert explained["retry_at"] == body["attempts"][0]["retry_at"]
    assert explained["verdict"].startswith("it waits for its retry delay: attempt 2 becomes Ready at")
    with app.app_context():
        task = db.session.scalar(sa.select(ActiveTask).where(ActiveTask.uuid == uuid_mod.UUID(uuid)))
        task.retry_at = db.utcnow() - timedelta(seconds=1)  # its hour is over
        db.session.commit()
    again = sched.fetch(worker)
    assert again["uuid"] == uuid
    with app.app_context():
        task = db.session.scalar(sa.select(ActiveTask).where(ActiveTask.uuid == uuid_mod.UUID(uuid)))
        assert (task.state, task.retry_at, task.attempt) == (TaskState.Running, None, 2)


def test_a_due_retry_whose_bucket_was_pruned_is_claimed_by_the_same_fetch(sched, alice, app):
    """The claim's bucket search tells that a retry is due; once released, its bucket is listed again."""
    from app.models import TaskBucket
    from app.services import dispatch

    uuid = _submit(sched, alice, retry={"retries": 1, "on": ["exit"], "delay": "1h"})["uuid"]
    worker = sched.register(alice)
    _commit(sched, worker, sched.fetch(worker), 1)
    with app.app_context():
        assert dispatch.prune_buckets() == 1  # its bucket holds no Ready task while it waits
        task = db.session.scalar(sa.select(ActiveTask).where(ActiveTask.uuid == uuid_mod.UUID(uuid)))
        task.retry_at = db.utcnow() - timedelta(seconds=1)
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TaskBucket)) == 0
    assert sched.fetch(worker)["uuid"] == uuid


def test_cancelling_a_task_waiting_for_its_retry_ends_it(sched, alice):
    uuid = _submit(sched, alice, retry={"retries": 1, "delay": "1h"})["uuid"]
    worker = sched.register(alice)
    _commit(sched, worker, sched.fetch(worker), 1)
    assert sched.client.delete(f"/tasks/{uuid}", headers=alice).status_code == 200
    info = _get(sched, alice, uuid)["info"]
    assert (info["state"], info["result"]["msg"]) == ("Cancelled", "UserCancellation")
    assert sched.fetch(worker) is None


def test_a_lost_worker_under_a_policy_naming_lost_uses_its_retries(sched, alice, app):
    from app.models import Worker
    from app.services import worker as worker_service

    uuid = _submit(sched, alice, retry={"retries": 1, "on": ["lost"]})["uuid"]
    for expected in ("Ready", "Cancelled"):
        worker = sched.register(alice)
        assert sched.fetch(worker)["uuid"] == uuid
        with app.app_context():
            row = db.session.scalar(
                sa.select(Worker).where(Worker.uuid == uuid_mod.UUID(worker["worker_id"]))
            )
            worker_service.remove_worker(worker=row, reason="heartbeat timeout")
        assert _get(sched, alice, uuid)["info"]["state"] == expected
    body = _get(sched, alice, uuid)
    assert body["info"]["result"]["exit_status"] == -1 and "WorkerLost" in body["info"]["result"]["detail"]
    with app.app_context():
        ends = db.session.scalars(
            sa.select(TaskAttempt.end)
            .where(TaskAttempt.task_uuid == uuid_mod.UUID(uuid))
            .order_by(TaskAttempt.number)
        ).all()
    assert ends == ["lost", "lost"]


def test_the_retry_words():
    assert parse_retry_on(["exit:2,1", "exit:3", "timeout", "signal", "signal:9"]) == [
        "exit:1,2,3", "signal", "timeout",
    ]  # fmt: skip
    assert parse_retry_on(["EXIT", "exit:4"]) == ["exit"]
    for bad in ("exit:x", "signal:65", "lost:1", "crash", "exit:"):
        with pytest.raises(ValueError):
            parse_retry_on([bad])
    policy = {"delay": 30, "backoff": "exponential"}
    assert [retry_delay(policy, n) for n in (1, 2, 3)] == [30, 60, 120]
    assert retry_delay({"delay": 30, "backoff": "fixed"}, 5) == 30
    assert retry_delay({"delay": 86_400, "backoff": "exponential"}, 40) == 86_400


def _retry(sched, headers, uuid, expect=200):
    resp = sched.client.post(f"/tasks/{uuid}/retry", headers=headers)
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def test_a_committed_task_rerun_keeps_its_uuid_place_and_history(sched, alice, app):
    first = _submit(sched, alice, retry={"retries": 1, "on": ["exit:1"]})["uuid"]
    worker = sched.register(alice)
    for _ in range(2):
        _commit(sched, worker, sched.fetch(worker), 1)  # out of retries: committed with exit 1
    later = _submit(sched, alice)["uuid"]
    assert _retry(sched, alice, first)["uuid"] == first
    body = _get(sched, alice, first)
    assert (body["info"]["state"], body["info"]["retry_count"], body["info"]["result"]) == ("Ready", 0, None)
    task = sched.fetch(worker)
    assert task["uuid"] == first  # its place: before the task submitted after it
    _commit(sched, worker, task, 1)  # its retry budget is renewed: retried once more
    _commit(sched, worker, sched.fetch(worker), 0)
    body = _get(sched, alice, first)
    assert [(a["number"], a["exit_status"]) for a in body["attempts"]] == [(1, 1), (2, 1), (3, 1), (4, 0)]
    assert sched.fetch(worker)["uuid"] == later


def test_rerun_refusals(sched, alice, bob, app):
    uuid = _submit(sched, alice)["uuid"]
    _retry(sched, alice, uuid, expect=409)  # not committed yet
    _retry(sched, alice, uuid_mod.uuid4(), expect=404)
    worker = sched.register(alice)
    _commit(sched, worker, sched.fetch(worker), 0)
    _retry(sched, bob, uuid, expect=403)  # no role in alice's group
    assert _get(sched, alice, uuid)["info"]["state"] == "Finished"
    _retry(sched, alice, uuid)


def test_rerun_by_filter_takes_the_committed_failures_only(sched, alice, bob):
    worker = sched.register(alice)
    uuids = [_submit(sched, alice)["uuid"] for _ in range(3)]
    for code in (0, 2, 3):
        _commit(sched, worker, sched.fetch(worker), code)
    waiting = _submit(sched, alice)["uuid"]
    resp = sched.client.post(
        "/tasks/retry", json={"group_name": "alice", "exit_status": "!=0"}, headers=alice
    )
    assert resp.get_json() == {"retried_count": 2, "group_name": "alice"}
    states = {u: _get(sched, alice, u)["info"]["state"] for u in [*uuids, waiting]}
    assert states == {uuids[0]: "Finished", uuids[1]: "Ready", uuids[2]: "Ready", waiting: "Ready"}
    refused = sched.client.post(
        "/tasks/retry", json={"group_name": "alice"}, headers=sched.users.headers("bob")
    )
    assert refused.status_code == 403
