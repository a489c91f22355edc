"""POST /workers/tasks/batch (issue #13 goal 1): report ops of the held task in one request, the next task
claimed by the commit's answer; and the re-delivery of a held task whose claim's answer was lost."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa

from app import db
from app.models import Worker
from tests.conftest import BACKEND
from tests.helpers import db_snapshot

TASK = {"tags": [], "labels": [], "timeout": "1m", "priority": 0, "task_spec": {"args": ["true"]}}


@pytest.fixture
def alice(client, users):
    return users.headers(users.create("alice"))


def _submit(client, headers, group="alice", **extra):
    resp = client.post("/tasks", json={"group_name": group, **TASK, **extra}, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["uuid"]


def _worker(client, headers, groups=()):
    resp = client.post("/workers", json={"tags": [], "groups": list(groups)}, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return {"Authorization": f"Bearer {resp.get_json()['token']}"}, resp.get_json()


def _batch(client, worker, task_id, ops, **extra):
    return client.post("/workers/tasks/batch", json={"id": task_id, "ops": ops, **extra}, headers=worker)


def _sent(app, request):
    """`request()`'s answer and the statements it sent (whitespace folded)."""
    statements: list[str] = []

    def listen(conn, cursor, statement, *rest):
        statements.append(" ".join(statement.split()))

    engine = db.get_engine(app.config["DB_URL"])
    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        return request(), statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)


def _info(client, headers, uuid):
    return client.get(f"/tasks/{uuid}", headers=headers).get_json()["info"]


def test_registration_offers_the_batch_extension(client, alice):
    _, registration = _worker(client, alice)
    assert registration["features"] == ["report_batch"]


def test_a_batch_applies_exec_states_finish_and_commit_in_order(client, alice):
    uuid = _submit(client, alice)
    worker, _ = _worker(client, alice)
    task_id = client.get("/workers/tasks", headers=worker).get_json()["id"]
    ops = [{"ExecState": "ExecSpawned"}, {"ExecState": "ExecFinished"}, "Finish"]
    resp = _batch(client, worker, task_id, ops)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"urls": [], "next": None}
    info = client.get(f"/workers/tasks/{uuid}", headers=worker).get_json()
    assert (info["state"], info["exec_state"]) == ("Finished", "ExecFinished")
    resp = _batch(client, worker, task_id, [{"Commit": {"exit_status": 0, "msg": None}}])
    assert resp.status_code == 200
    assert _info(client, alice, uuid)["result"] == {"exit_status": 0, "msg": None}


def test_a_batch_answers_the_upload_urls_in_order(client, alice):
    _submit(client, alice)
    worker, _ = _worker(client, alice)
    task_id = client.get("/workers/tasks", headers=worker).get_json()["id"]
    ops = [
        "Finish",
        {"Upload": {"content_type": "result", "content_length": 10}},
        {"Upload": {"content_type": "exec-log", "content_length": 20}},
    ]
    resp = _batch(client, worker, task_id, ops)
    assert resp.status_code == 200, resp.get_json()
    urls = resp.get_json()["urls"]
    assert len(urls) == 2
    assert "result" in urls[0] and "exec-log" in urls[1]


def test_a_commit_with_next_claims_the_next_task_in_the_same_answer(client, alice):
    first, second = _submit(client, alice), _submit(client, alice)
    worker, _ = _worker(client, alice)
    task = client.get("/workers/tasks", headers=worker).get_json()
    assert task["uuid"] == first
    ops = ["Finish", {"Commit": {"exit_status": 0, "msg": None}}]
    resp = _batch(client, worker, task["id"], ops, next=True)
    assert resp.status_code == 200, resp.get_json()
    chained = resp.get_json()["next"]
    assert chained["uuid"] == second and chained["spec"]["args"] == ["true"]
    assert _info(client, alice, first)["result"] == {"exit_status": 0, "msg": None}
    assert _info(client, alice, second)["state"] == "Running"
    resp = _batch(client, worker, chained["id"], ops, next=True)
    assert resp.get_json() == {"urls": [], "next": None}
    assert _info(client, alice, second)["state"] == "Finished"


def test_a_graceful_shutdown_worker_gets_no_next_task(client, alice):
    _submit(client, alice)
    _submit(client, alice)
    worker, registration = _worker(client, alice)
    task = client.get("/workers/tasks", headers=worker).get_json()
    wid = registration["worker_id"]
    assert client.delete(f"/workers/{wid}?op=Graceful", headers=alice).status_code == 200
    ops = ["Finish", {"Commit": {"exit_status": 0, "msg": None}}]
    resp = _batch(client, worker, task["id"], ops, next=True)
    assert resp.get_json() == {"urls": [], "next": None}
    assert client.get("/workers/tasks", headers=worker).status_code == 401


@pytest.mark.parametrize(
    ("ops", "extra", "message"),
    [
        ([{"Commit": {"exit_status": 0, "msg": None}}, "Finish"], {}, "A Commit must be the last op"),
        (["Finish"], {"next": True}, "next needs a Commit"),
        ([], {}, None),
        (["Finish"] * 65, {}, None),
        (["Finish", {"Nope": 1}], {}, None),
        # The plain commit in SQL with exec states refuses a commit before Finish or Cancel, before it
        # writes anything (the exec states included).
        (
            [{"ExecState": "ExecSpawned"}, {"Commit": {"exit_status": 0, "msg": None}}],
            {"next": True},
            "can not be committed: it is Running",
        ),
    ],
)
def test_a_bad_batch_is_400_and_changes_nothing(client, alice, app, ops, extra, message):
    _submit(client, alice)
    worker, _ = _worker(client, alice)
    task_id = client.get("/workers/tasks", headers=worker).get_json()["id"]
    before = db_snapshot(app)
    resp = _batch(client, worker, task_id, ops, **extra)
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["error"] == body["msg"]
    if message:
        assert message in body["msg"]
    assert db_snapshot(app) == before


def test_a_failing_op_rolls_the_whole_batch_back(client, alice, app):
    uuid = _submit(client, alice)
    worker, _ = _worker(client, alice)
    task_id = client.get("/workers/tasks", headers=worker).get_json()["id"]
    before = db_snapshot(app)
    bad = {"Submit": {**TASK, "group_name": "elsewhere"}}
    resp = _batch(client, worker, task_id, [{"ExecState": "ExecSpawned"}, "Finish", bad])
    assert resp.status_code == 400
    assert db_snapshot(app) == before
    assert _info(client, alice, uuid)["state"] == "Running"


def test_a_batch_for_a_task_another_worker_holds_is_404(client, alice, app):
    _submit(client, alice)
    holder, _ = _worker(client, alice)
    other, _ = _worker(client, alice)
    task_id = client.get("/workers/tasks", headers=holder).get_json()["id"]
    before = db_snapshot(app)
    resp = _batch(client, other, task_id, ["Finish"])
    assert resp.status_code == 404
    assert db_snapshot(app) == before
    assert _batch(client, holder, task_id, ["Finish"]).status_code == 200


def test_a_batch_needs_a_worker_token(client, alice):
    _submit(client, alice)
    worker, _ = _worker(client, alice)
    task_id = client.get("/workers/tasks", headers=worker).get_json()["id"]
    assert _batch(client, alice, task_id, ["Finish"]).status_code == 401
    assert _batch(client, {}, task_id, ["Finish"]).status_code == 401


def test_a_commit_retried_after_a_lost_answer_hands_the_same_next_task(client, alice, app):
    _submit(client, alice)
    second = _submit(client, alice)
    worker, _ = _worker(client, alice)
    task = client.get("/workers/tasks", headers=worker).get_json()
    ops = ["Finish", {"Commit": {"exit_status": 0, "msg": None}}]
    first_answer = _batch(client, worker, task["id"], ops, next=True).get_json()
    before = db_snapshot(app)
    again = _batch(client, worker, task["id"], ops, next=True)
    assert again.status_code == 200
    assert again.get_json() == first_answer
    assert first_answer["next"]["uuid"] == second
    assert db_snapshot(app) == before


def test_the_claim_answer_names_its_attempt(client, alice):
    _submit(client, alice, retry={"retries": 1, "on": ["exit:1"]})
    worker, _ = _worker(client, alice)
    task = client.get("/workers/tasks", headers=worker).get_json()
    assert task["attempt"] == 1
    ops = ["Finish", {"Commit": {"exit_status": 1, "msg": None}}]
    again = _batch(client, worker, task["id"], ops, next=True, attempt=1).get_json()["next"]
    assert (again["id"], again["attempt"]) == (task["id"], 2)


def test_a_retried_commit_never_lands_on_the_attempt_its_first_answer_claimed(client, alice, app):
    """A commit that starts a retry and claims that very retry for the same worker: when its answer is lost
    and the agent sends the batch again, the replay answers what the first did; it must not commit attempt 2
    (which never ran) with attempt 1's result."""
    uuid = _submit(client, alice, retry={"retries": 2, "on": ["exit:1"]})
    worker, _ = _worker(client, alice)
    task = client.get("/workers/tasks", headers=worker).get_json()
    ops = ["Finish", {"Commit": {"exit_status": 1, "msg": None}}]
    first_answer = _batch(client, worker, task["id"], ops, next=True, attempt=1).get_json()
    assert (first_answer["next"]["uuid"], first_answer["next"]["attempt"]) == (uuid, 2)
    before = db_snapshot(app)
    again = _batch(client, worker, task["id"], ops, next=True, attempt=1)
    assert again.status_code == 200, again.get_json()
    assert again.get_json() == first_answer
    assert db_snapshot(app) == before
    info = client.get(f"/workers/tasks/{uuid}", headers=worker).get_json()
    assert info["state"] == "Running"
    # without `next`, the stale attempt's report is refused as a report on a task no longer held
    assert _batch(client, worker, task["id"], ["Finish"], attempt=1).status_code == 404
    assert _batch(client, worker, task["id"], ["Finish"], attempt=2).status_code == 200


def test_a_batch_for_an_attempt_that_is_not_a_positive_integer_is_400(client, alice):
    _submit(client, alice)
    worker, _ = _worker(client, alice)
    task = client.get("/workers/tasks", headers=worker).get_json()
    for bad in (0, -1, "1", 1.5, None):
        resp = _batch(client, worker, task["id"], ["Finish"], attempt=bad)
        body = resp.get_json()
        assert resp.status_code == 400 and "attempt" in body["errors"]["json"], (bad, body)


def test_a_commit_retried_by_another_worker_is_still_404(client, alice):
    _submit(client, alice)
    worker, _ = _worker(client, alice)
    other, _ = _worker(client, alice)
    task = client.get("/workers/tasks", headers=worker).get_json()
    ops = ["Finish", {"Commit": {"exit_status": 0, "msg": None}}]
    assert _batch(client, worker, task["id"], ops, next=True).status_code == 200
    assert _batch(client, other, task["id"], ops, next=True).status_code == 404
    assert _batch(client, worker, task["id"], ops).status_code == 404


def test_the_hot_routes_tell_a_removed_worker_why_without_a_lookup(client, alice):
    _submit(client, alice)
    worker, registration = _worker(client, alice)
    task_id = client.get("/workers/tasks", headers=worker).get_json()["id"]
    assert client.delete(f"/workers/{registration['worker_id']}?op=Force", headers=alice).status_code == 200
    for resp in (
        client.get("/workers/tasks", headers=worker),
        client.post("/workers/tasks", json={"id": task_id, "op": "Finish"}, headers=worker),
        _batch(client, worker, task_id, ["Finish"]),
        _batch(client, worker, task_id, ["Finish", {"Commit": {"exit_status": 0, "msg": None}}], next=True),
    ):
        assert resp.status_code == 401
        assert resp.get_json()["removed"] == "force shutdown"


def test_the_hot_routes_refuse_a_worker_whose_creator_is_locked(client, alice, app):
    import sqlalchemy as sa

    from app import db
    from app.models import User, UserState

    _submit(client, alice)
    worker, _ = _worker(client, alice)
    task_id = client.get("/workers/tasks", headers=worker).get_json()["id"]
    with app.app_context():  # the lock's race: the row is still there, its creator no longer Active
        db.session.execute(sa.update(User).where(User.username == "alice").values(state=UserState.Locked))
        db.session.commit()
        db.session.remove()
    assert client.get("/workers/tasks", headers=worker).status_code == 403
    assert _batch(client, worker, task_id, ["Finish"]).status_code == 403
    commit = ["Finish", {"Commit": {"exit_status": 0, "msg": None}}]  # the hot path's one lock statement
    assert _batch(client, worker, task_id, commit, next=True).status_code == 403


_AGENT_STATES = [{"ExecState": s} for s in ("FetchResource", "ExecPending", "ExecSpawned", "ExecFinished")]


@pytest.mark.parametrize(
    "before",
    [
        ["Finish"],
        # What `mito worker` sends for a task with nothing to upload: its exec states so far, Finish, the
        # upload's state. They take the same path: the row they would be written to is archived.
        [*_AGENT_STATES, {"ExecState": "UploadResult"}, "Finish", {"ExecState": "UploadFinishedResult"}],
    ],
    ids=["finish", "agent-exec-states"],
)
def test_a_chained_commit_writes_each_row_once(client, alice, app, before):
    """The hot path's SQL (issue 13 goal 2): the archive is one statement on PostgreSQL (INSERT ... SELECT
    from a DELETE ... RETURNING CTE, the attempt's close a CTE of it; SQLite: a DELETE and an INSERT), the
    committed task is not updated before it goes, the attempt is closed by one UPDATE, the worker row
    written by the archive (let go of the task) and by the claim (given the next; no ORM flush of its
    own: the chained commit loads no ORM object), the bucket search and the claim of the next task one
    statement on PostgreSQL (the best bucket by its head, the head under FOR UPDATE SKIP LOCKED, the
    task's UPDATE, the attempt's INSERT and the worker's UPDATE as CTEs), and the counters in one
    statement on PostgreSQL."""
    first, second = _submit(client, alice), _submit(client, alice)
    worker, _ = _worker(client, alice)
    task = client.get("/workers/tasks", headers=worker).get_json()
    ops = [*before, {"Commit": {"exit_status": 3, "msg": None}}]
    resp, statements = _sent(app, lambda: _batch(client, worker, task["id"], ops, next=True))
    assert resp.status_code == 200 and resp.get_json()["next"]["uuid"] == second

    def count(part: str) -> int:
        return sum(part in s for s in statements)

    assert count("UPDATE workers") == 1  # given the next task by the claim, not let go first
    assert count("UPDATE active_tasks") == 1  # the claim of the next task
    assert count("UPDATE task_attempts") == 1 and not any("FROM task_attempts" in s for s in statements)
    # No retry is due: the probe rides in the bucket search, and no locked release probe follows.
    (probe,) = [s for s in statements if "active_tasks.retry_at <=" in s]
    assert "FROM task_buckets" in probe and "FOR UPDATE SKIP LOCKED" not in probe.split("picked AS")[0]
    deletes = [s for s in statements if "DELETE FROM active_tasks" in s]
    if BACKEND == "postgresql":
        assert len(deletes) == 1 and deletes[0].startswith("WITH gone AS (DELETE FROM active_tasks")
        assert "INSERT INTO archived_tasks" in deletes[0]
        # The plain commit in SQL (lifecycle_sql.commit_core): the attempt's close rides in the archive, and
        # the worker and its task are locked by one statement, worker first (FOR UPDATE OF lists them in
        # that order), reading the columns the commit needs, not the task's row (the archive copies it).
        assert "UPDATE task_attempts" in deletes[0] and count("UPDATE task_attempts") == 1
        assert "UPDATE workers" not in deletes[0]
        (lock,) = [s for s in statements if s.startswith("SELECT") and "FOR UPDATE" in s]
        assert lock.endswith("FOR UPDATE OF workers, active_tasks")
        assert "active_tasks.spec" not in lock and "downstream_task_uuid" in lock
        assert len(statements) == 4  # worker and task lock, archive, bucket search and claim, counters
        assert [s for s in statements if "INSERT INTO task_counts" in s] == [
            s for s in statements if "INSERT INTO metric_counters" in s
        ]
        (claim,) = [s for s in statements if "UPDATE active_tasks" in s]
        assert claim == probe  # the bucket search, its heads (LATERAL) and the claim: one statement
        assert claim.startswith("WITH best AS (SELECT task_buckets.group_id") and "JOIN LATERAL" in claim
        assert "picked AS (SELECT active_tasks.id" in claim and "SKIP LOCKED" in claim
        assert "INSERT INTO task_attempts" in claim and "UPDATE workers" in claim
        assert count("INSERT INTO task_attempts") == 1
    else:
        assert count("DELETE FROM active_tasks") == 1 and count("INSERT INTO archived_tasks") == 1
        assert count("INSERT INTO task_attempts") == 1
    body = client.get(f"/tasks/{first}", headers=alice).get_json()
    assert (body["info"]["state"], body["info"]["result"]) == ("Finished", {"exit_status": 3, "msg": None})
    [attempt] = body["attempts"]
    assert (attempt["end"], attempt["exit_status"], attempt["ended_at"] is not None) == ("exit", 3, True)


def test_a_chained_commit_with_nothing_to_claim_lets_go_of_its_task_once(client, alice, app):
    """No next task: the worker's row is written once, holding nothing (the commit leaves it to the claim;
    a claim that found nothing, if one ran, wrote no row, and the worker lets go of the task by itself)."""
    _submit(client, alice)
    worker, registration = _worker(client, alice)
    task = client.get("/workers/tasks", headers=worker).get_json()
    ops = ["Finish", {"Commit": {"exit_status": 0, "msg": None}}]
    resp, statements = _sent(app, lambda: _batch(client, worker, task["id"], ops, next=True))
    assert resp.get_json() == {"urls": [], "next": None}
    # not a claim's CTE: on PostgreSQL a claim that found nothing may have run, and wrote no row
    workers_updates = [s for s in statements if "UPDATE workers" in s and "FROM claimed" not in s]
    assert len(workers_updates) == 1 and workers_updates[0].startswith("UPDATE workers SET assigned_task_id")
    with db.get_engine(app.config["DB_URL"]).connect() as conn:
        held = conn.execute(
            sa.select(Worker.assigned_task_id).where(Worker.uuid == uuid.UUID(registration["worker_id"]))
        ).scalar_one()
    assert held is None
    _submit(client, alice)
    assert client.get("/workers/tasks", headers=worker).get_json()["attempt"] == 1


def test_each_request_is_validated_on_its_own(client, alice):
    """The body schema is one instance for every request (app.api._blueprint): no error or value of one
    request shows in another's answer."""
    _submit(client, alice)
    worker, _ = _worker(client, alice)
    task_id = client.get("/workers/tasks", headers=worker).get_json()["id"]
    bad_id = client.post("/workers/tasks/batch", json={"id": "x", "ops": ["Finish"]}, headers=worker)
    bad_ops = client.post("/workers/tasks/batch", json={"id": task_id, "ops": []}, headers=worker)
    assert (bad_id.status_code, bad_ops.status_code) == (400, 400)
    assert set(bad_id.get_json()["errors"]["json"]) == {"id"}
    assert set(bad_ops.get_json()["errors"]["json"]) == {"ops"}
    assert _batch(client, worker, task_id, ["Finish"]).get_json() == {"urls": [], "next": None}
    again = client.post("/workers/tasks/batch", json={"id": "x", "ops": ["Finish"]}, headers=worker)
    assert again.get_json() == bad_id.get_json()
