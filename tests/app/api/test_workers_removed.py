"""A removed worker's token answers 401 saying why it was removed (`removed`), while that is remembered."""

from __future__ import annotations

import uuid as uuid_mod

import sqlalchemy as sa

from app import db
from app.models import RemovedWorker, Worker
from app.services import worker as worker_service
from mito.vocab import WorkerRemoval


def _register(client, headers) -> tuple[str, dict[str, str]]:
    body = client.post("/workers", json={"tags": [], "groups": []}, headers=headers).get_json()
    return body["worker_id"], {"Authorization": f"Bearer {body['token']}"}


def _refusal(client, worker) -> dict:
    resp = client.post("/workers/heartbeat", headers=worker)
    assert resp.status_code == 401
    return resp.get_json()


def test_a_force_shut_down_worker_is_told_so(client, users):
    alice = users.headers(users.create("alice"))
    uuid, worker = _register(client, alice)
    assert client.delete(f"/workers/{uuid}?op=Force", headers=alice).status_code == 200
    body = _refusal(client, worker)
    assert body["removed"] == "force shutdown"
    assert (
        body["msg"]
        == body["error"]
        == (f"Authentication error: Wrong credentials: worker {uuid} was removed (force shutdown)")
    )
    assert client.get("/workers/tasks", headers=worker).get_json()["removed"] == "force shutdown"


def test_a_gracefully_shut_down_worker_is_told_so_after_its_commit(client, users):
    alice = users.headers(users.create("alice"))
    body = {"group_name": "alice", "tags": [], "labels": [], "timeout": "1m", "priority": 0,
            "task_spec": {"args": ["true"]}}  # fmt: skip
    client.post("/tasks", json=body, headers=alice)
    uuid, worker = _register(client, alice)
    task_id = client.get("/workers/tasks", headers=worker).get_json()["id"]
    assert client.delete(f"/workers/{uuid}?op=Graceful", headers=alice).status_code == 200
    assert client.post("/workers/heartbeat", headers=worker).status_code == 200  # still there
    for op in ("Finish", {"Commit": {"exit_status": 0, "msg": None}}):
        assert (
            client.post("/workers/tasks", json={"id": task_id, "op": op}, headers=worker).status_code == 200
        )
    assert _refusal(client, worker)["removed"] == "graceful shutdown"


def test_a_reaped_worker_is_told_it_timed_out(app, client, users):
    alice = users.headers(users.create("alice"))
    uuid, worker = _register(client, alice)
    with app.app_context():
        row = db.session.scalar(sa.select(Worker).where(Worker.uuid == uuid_mod.UUID(uuid)))
        worker_service.remove_worker(worker=row, reason=WorkerRemoval.HeartbeatTimeout)
        db.session.remove()
    assert _refusal(client, worker)["removed"] == "heartbeat timeout"


def test_a_worker_removed_long_ago_gets_a_plain_401(app, client, users):
    alice = users.headers(users.create("alice"))
    uuid, worker = _register(client, alice)
    assert client.delete("/workers", headers=worker).status_code == 200
    assert _refusal(client, worker)["removed"] == "unregistered"
    with app.app_context():
        db.session.execute(sa.delete(RemovedWorker))
        db.session.commit()
        db.session.remove()
    assert _refusal(client, worker) == {
        "error": "Authentication error: Wrong credentials",
        "msg": "Authentication error: Wrong credentials",
    }
