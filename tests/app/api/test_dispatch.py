"""Dispatch: eligibility (tags, roles), order, shutdowns, attempts, reports and downstream tasks."""

from __future__ import annotations

import uuid as uuid_mod

import pytest
import sqlalchemy as sa

from app import db
from app.models import ActiveTask, ArchivedTask, Artifact, TaskLoss, TaskState, Worker
from tests.conftest import BACKEND
from tests.helpers import db_snapshot


def _task_row(app, uuid):
    with app.app_context():
        return db.session.scalar(sa.select(ActiveTask).where(ActiveTask.uuid == uuid_mod.UUID(str(uuid))))


def test_fetch_with_nothing_to_do_is_204(sched, alice, client):
    w = sched.register(alice, tags=["a"])
    resp = client.get("/workers/tasks", headers=sched.wh(w))
    assert resp.status_code == 204 and resp.data == b""


def test_task_tags_must_be_subset_of_worker_tags(sched, alice):
    needs_ab = sched.submit(alice, "alice", tags=["a", "b"])["uuid"]
    w_a = sched.register(alice, tags=["a"])
    assert sched.fetch(w_a) is None
    w_abc = sched.register(alice, tags=["a", "b", "c"])
    assert sched.fetch(w_abc)["uuid"] == needs_ab


def test_untagged_task_runs_anywhere_but_untagged_worker_takes_only_untagged(sched, alice):
    tagged = sched.submit(alice, "alice", tags=["gpu"])["uuid"]
    plain = sched.submit(alice, "alice")["uuid"]
    w_none = sched.register(alice, tags=[])
    assert sched.fetch(w_none)["uuid"] == plain
    w_gpu = sched.register(alice, tags=["gpu"])
    assert sched.fetch(w_gpu)["uuid"] == tagged


def test_read_role_never_receives_and_write_role_does(sched, alice, bob):
    sched.group(alice, "team", {"bob": "Write"})
    uuid = sched.submit(alice, "team")["uuid"]
    reader = sched.register(alice, groups=["team:read"])
    assert sched.fetch(reader) is None
    writer = sched.register(bob, groups=["team:write"])
    assert sched.fetch(writer)["uuid"] == uuid


def test_worker_without_the_group_gets_nothing(sched, alice, bob):
    sched.submit(alice, "alice")
    assert sched.fetch(sched.register(bob)) is None


def test_order_is_priority_then_submission(sched, alice):
    low1 = sched.submit(alice, "alice", priority=1)["uuid"]
    high1 = sched.submit(alice, "alice", priority=5, tags=["x"])["uuid"]
    low2 = sched.submit(alice, "alice", priority=1, tags=["x"])["uuid"]
    high2 = sched.submit(alice, "alice", priority=5)["uuid"]
    w = sched.register(alice, tags=["x"])
    order = [sched.run(w)["uuid"] for _ in range(4)]
    assert order == [high1, high2, low1, low2]
    assert sched.fetch(w) is None


def test_tag_change_is_seen_on_next_fetch(sched, alice, client):
    uuid = sched.submit(alice, "alice", tags=["new"])["uuid"]
    w = sched.register(alice, tags=["old"])
    assert sched.fetch(w) is None
    assert (
        client.put(f"/workers/{w['worker_id']}/tags", json={"tags": ["new"]}, headers=alice).status_code
        == 200
    )
    assert sched.fetch(w)["uuid"] == uuid


def test_role_change_is_seen_on_next_fetch(sched, alice, client):
    sched.group(alice, "team")
    uuid = sched.submit(alice, "team")["uuid"]
    w = sched.register(alice, groups=["team:read"])
    assert sched.fetch(w) is None
    resp = client.put(
        f"/workers/{w['worker_id']}/groups", json={"relations": {"team": "Write"}}, headers=alice
    )
    assert resp.status_code == 200
    assert sched.fetch(w)["uuid"] == uuid
    sched.report(w, sched_id := _task_row(client.application, uuid).id, "Finish")
    sched.report(w, sched_id, {"Commit": {"exit_status": 0}})
    sched.submit(alice, "team")
    resp = client.delete(f"/workers/{w['worker_id']}/groups?groups=team", headers=alice)
    assert resp.status_code == 200
    assert sched.fetch(w) is None


def test_task_edit_moves_it_between_buckets(sched, alice, client):
    uuid = sched.submit(alice, "alice", tags=["a"])["uuid"]
    w = sched.register(alice, tags=["b"])
    assert sched.fetch(w) is None
    client.put(f"/tasks/{uuid}", json={"tags": ["b"]}, headers=alice)
    assert sched.fetch(w)["uuid"] == uuid


def test_worker_holding_a_task_gets_no_second_one_but_the_same_again(sched, alice, app):
    """An agent asks for a task only when it runs none: a fetch from a worker holding a Running task means
    the answer of the claim that gave it was lost, so the same task (same attempt) comes back rather than
    staying Running, unrun, until its timeout."""
    first = sched.submit(alice, "alice")["uuid"]
    sched.submit(alice, "alice")
    w = sched.register(alice)
    claimed = sched.fetch(w)
    assert claimed["uuid"] == first
    before = db_snapshot(app)
    again = sched.fetch(w)
    assert again == claimed and again["attempt"] == 1
    assert db_snapshot(app) == before


def test_a_worker_holding_a_finished_task_gets_nothing_until_it_commits(sched, alice):
    sched.submit(alice, "alice")
    second = sched.submit(alice, "alice")["uuid"]
    w = sched.register(alice)
    task = sched.fetch(w)
    sched.report(w, task["id"], "Finish")
    assert sched.fetch(w) is None
    sched.report(w, task["id"], {"Commit": {"exit_status": 0, "msg": None}})
    assert sched.fetch(w)["uuid"] == second


def test_graceful_shutdown_of_busy_worker_removes_it_at_commit(sched, alice, client, app):
    uuid = sched.submit(alice, "alice")["uuid"]
    sched.submit(alice, "alice")
    w = sched.register(alice)
    task = sched.fetch(w)
    assert client.delete(f"/workers/{w['worker_id']}?op=graceful", headers=alice).status_code == 200
    info = client.get(f"/workers/{w['worker_id']}", headers=alice).get_json()["info"]
    assert info["state"] == "GracefulShutdown" and info["assigned_task_id"] == uuid
    assert sched.fetch(w) == task  # no new task: only the one it holds, again
    sched.report(w, task["id"], "Finish")
    sched.report(w, task["id"], {"Commit": {"exit_status": 0}})
    assert client.get("/workers/tasks", headers=sched.wh(w)).status_code == 401
    assert client.get(f"/workers/{w['worker_id']}", headers=alice).status_code == 404


def test_graceful_shutdown_of_idle_worker_removes_it_at_once(sched, alice, client):
    w = sched.register(alice)
    assert client.delete(f"/workers/{w['worker_id']}", headers=alice).status_code == 200
    assert client.post("/workers/heartbeat", headers=sched.wh(w)).status_code == 401


def test_force_shutdown_requeues_task_and_refuses_the_old_holder(sched, alice, client, app):
    uuid = sched.submit(alice, "alice")["uuid"]
    w1 = sched.register(alice)
    task = sched.fetch(w1)
    assert client.delete(f"/workers/{w1['worker_id']}?op=force", headers=alice).status_code == 200
    row = _task_row(app, uuid)
    assert (row.state, row.assigned_worker, row.lost_count) == (TaskState.Ready, None, 1)
    assert (
        client.post(
            "/workers/tasks", json={"id": task["id"], "op": "Finish"}, headers=sched.wh(w1)
        ).status_code
        == 401
    )
    w2 = sched.register(alice)
    again = sched.fetch(w2)
    assert again["uuid"] == uuid
    assert _task_row(app, uuid).attempt == 2
    with app.app_context():
        losses = db.session.scalars(sa.select(TaskLoss)).all()
        assert [(str(x.task_uuid), str(x.worker_uuid)) for x in losses] == [(uuid, w1["worker_id"])]


def test_report_from_worker_no_longer_holding_the_task_is_404_and_changes_nothing(sched, alice, client, app):
    uuid = sched.submit(alice, "alice")["uuid"]
    w1 = sched.register(alice)
    w2 = sched.register(alice)
    task = sched.fetch(w1)
    sched.report(w2, task["id"], "Finish", expect=404)
    sched.report(w2, task["id"], {"Commit": {"exit_status": 0}}, expect=404)
    assert _task_row(app, uuid).state == TaskState.Running
    sched.report(w1, task["id"], "Finish")
    sched.report(w1, task["id"], {"Commit": {"exit_status": 3}})
    sched.report(w1, task["id"], {"Commit": {"exit_status": 4}}, expect=404)
    with app.app_context():
        assert db.session.scalar(sa.select(ArchivedTask.result)) == {"exit_status": 3, "msg": None}


def test_report_after_user_cancel_of_ready_task_is_404(sched, alice, client):
    uuid = sched.submit(alice, "alice")["uuid"]
    w = sched.register(alice)
    task = sched.fetch(w)
    sched.report(w, task["id"], "Finish")
    sched.report(w, task["id"], {"Commit": {"exit_status": 0}})
    sched.report(w, task["id"], "Finish", expect=404)
    assert client.get(f"/tasks/{uuid}", headers=alice).get_json()["info"]["state"] == "Finished"


def test_commit_needs_finished_or_cancelled_state(sched, alice, app):
    uuid = sched.submit(alice, "alice")["uuid"]
    w = sched.register(alice)
    task = sched.fetch(w)
    sched.report(w, task["id"], {"Commit": {"exit_status": 0}}, expect=400)
    assert _task_row(app, uuid).state == TaskState.Running
    sched.report(w, task["id"], "Cancel")
    sched.report(w, task["id"], {"Commit": {"exit_status": 0, "msg": "ExecTimeout"}})


def test_report_bad_ops_are_400(sched, alice, app):
    sched.submit(alice, "alice")
    w = sched.register(alice)
    task = sched.fetch(w)
    bad_ops = [
        "Done",
        {"Commit": {}},
        {"Commit": {"exit_status": "0"}},
        {"Commit": {"exit_status": 0, "msg": "Nope"}},
        {"ExecState": "Sleeping"},
        {"Finish": 1, "Cancel": 2},
        {"Upload": {"content_type": "x", "content_length": 1}},
    ]
    for op in bad_ops:
        sched.report(w, task["id"], op, expect=400)
    assert _task_row(app, task["uuid"]).state == TaskState.Running


def test_upload_from_worker_not_holding_the_task_is_404_and_books_nothing(sched, alice, app):
    sched.submit(alice, "alice")
    holder, other = sched.register(alice), sched.register(alice)
    task = sched.fetch(holder)
    op = {"Upload": {"content_type": "result", "content_length": 10}}
    sched.report(other, task["id"], op, expect=404)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Artifact)) == 0
    assert sched.report(holder, task["id"], op)["url"]
    with app.app_context():
        assert db.session.scalar(sa.select(Artifact.size)) == 10


def test_exec_state_is_recorded_and_shown_to_workers(sched, alice, client):
    uuid = sched.submit(alice, "alice")["uuid"]
    w = sched.register(alice)
    task = sched.fetch(w)
    sched.report(w, task["id"], {"ExecState": "ExecSpawned"})
    other = sched.register(alice)
    got = client.get(f"/workers/tasks/{uuid}", headers=sched.wh(other)).get_json()
    assert (got["state"], got["exec_state"], got["timeout"]) == ("Running", "ExecSpawned", "10m")
    assert client.get(f"/workers/tasks/{uuid}", headers=alice).status_code == 401
    assert (
        client.get("/workers/tasks/123e4567-e89b-12d3-a456-426614174000", headers=sched.wh(other)).status_code
        == 404
    )


def test_submit_op_creates_pending_downstream_released_at_commit(sched, alice, client, app):
    up = sched.submit(alice, "alice", tags=["t"])["uuid"]
    w = sched.register(alice, tags=["t"])
    task = sched.fetch(w)
    down_req = {"group_name": "alice", "tags": [], "labels": ["down"], "timeout": "5m", "priority": 0,
                "task_spec": {"args": ["next"]}}  # fmt: skip
    sched.report(w, task["id"], {"Submit": down_req}, expect=400)  # still Running
    sched.report(w, task["id"], "Finish")
    sched.report(w, task["id"], {"Submit": {**down_req, "group_name": "bob"}}, expect=400)
    sched.report(w, task["id"], {"Submit": down_req})
    sched.report(w, task["id"], {"Submit": down_req}, expect=409)
    up_info = client.get(f"/tasks/{up}", headers=alice).get_json()["info"]
    down = up_info["downstream_task_uuid"]
    down_info = client.get(f"/tasks/{down}", headers=alice).get_json()["info"]
    assert (down_info["state"], down_info["upstream_task_uuid"], down_info["task_id"]) == ("Pending", up, 2)
    w2 = sched.register(alice)
    assert sched.fetch(w2) is None
    sched.report(w, task["id"], {"Commit": {"exit_status": 0}})
    fetched = sched.fetch(w2)
    assert fetched["uuid"] == down and fetched["upstream_task_uuid"] == up


def test_remove_worker_cancels_task_after_max_losses(sched, alice, app):
    """Lost more than MAX_TASK_LOSSES (3) times: the 4th loss ends it, saying so, never as a success."""
    from app.services import worker as worker_service
    from app.services.lifecycle import LOST_RESULT

    uuid = sched.submit(alice, "alice")["uuid"]
    for n in range(1, 5):
        w = sched.register(alice)
        assert sched.fetch(w)["uuid"] == uuid
        with app.app_context():
            worker = db.session.scalar(sa.select(Worker).where(Worker.uuid == uuid_mod.UUID(w["worker_id"])))
            worker_service.remove_worker(worker=worker, reason="heartbeat timeout")
        if n < 4:
            assert _task_row(app, uuid).state == TaskState.Ready
    with app.app_context():
        archived = db.session.scalar(sa.select(ArchivedTask).where(ArchivedTask.uuid == uuid_mod.UUID(uuid)))
        assert (archived.state, archived.result, archived.lost_count) == (TaskState.Cancelled, LOST_RESULT, 4)
        assert archived.exit_status != 0 and "WorkerLost" in archived.result["detail"]
        reasons = db.session.scalars(sa.select(TaskLoss.reason).order_by(TaskLoss.id)).all()
        assert reasons[:3] == ["heartbeat timeout"] * 3
        assert "cancelled after 4" in reasons[3]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Worker)) == 0


def test_unregister_puts_task_back_to_ready(sched, alice, client, app):
    uuid = sched.submit(alice, "alice")["uuid"]
    w = sched.register(alice)
    sched.fetch(w)
    assert client.delete("/workers", headers=sched.wh(w)).status_code == 200
    assert _task_row(app, uuid).state == TaskState.Ready
    assert client.delete("/workers", headers=sched.wh(w)).status_code == 401


@pytest.mark.skipif(
    BACKEND != "postgresql", reason="row locks (SKIP LOCKED) are PostgreSQL's; SQLite serialises"
)
def test_a_claim_passes_over_a_bucket_whose_tasks_other_claims_hold(sched, alice, db_url):
    """The one-statement claim reads the best bucket by its head without a lock; when another claim holds
    every Ready task of that bucket, the claim still takes the next bucket's task, not nothing."""
    best = sched.submit(alice, "alice", priority=9, tags=["x"])["uuid"]
    other = sched.submit(alice, "alice", priority=1)["uuid"]
    w = sched.register(alice, tags=["x"])
    holding = sa.create_engine(db_url)
    try:
        with holding.connect() as conn, conn.begin():  # another claim's lock on the best bucket's only task
            locked = sa.select(ActiveTask.id).where(ActiveTask.uuid == uuid_mod.UUID(best)).with_for_update()
            assert conn.execute(locked).scalar() is not None
            assert sched.fetch(w)["uuid"] == other
    finally:
        holding.dispose()
    assert sched.fetch(w)["uuid"] == other  # still held: the same answer (it asked while holding it)


def test_an_empty_poll_of_an_emptied_bucket_is_two_statements_on_postgresql(sched, alice, app, client):
    """A poll with nothing to claim in the buckets the worker may take from: the worker's lock, then the
    bucket search with the claim it would make (one statement on PostgreSQL, which reads each bucket's
    head); SQLite searches, then tries the bucket."""
    sched.submit(alice, "alice")
    assert sched.fetch(sched.register(alice)) is not None  # the bucket stays, empty
    w = sched.register(alice)
    statements: list[str] = []
    with app.app_context():
        engine = db.session.get_bind()
    listen = lambda *args: statements.append(args[2])  # noqa: E731
    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        assert client.get("/workers/tasks", headers=sched.wh(w)).status_code == 204
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)
    statements = [s for s in statements if s != "BEGIN IMMEDIATE"]  # SQLite's way to begin a writer
    assert len(statements) == (2 if BACKEND == "postgresql" else 3), statements
