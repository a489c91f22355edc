"""Locking or deleting a user ends their sessions and removes their workers; unlocking revives nothing.

Issue #12 item 8: a locked or deleted user's workers kept fetching and committing, and unlocking the user
made their old tokens valid again.
"""

from __future__ import annotations

import uuid as uuid_mod
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tests.builders import make_worker
from tests.conftest import ADMIN_USER
from tests.helpers import md5_list

TASK = {"group_name": "alice", "tags": [], "labels": [], "timeout": "10m", "priority": 0,
        "task_spec": {"args": ["true"]}}  # fmt: skip
STATE_REMOVAL = {"Locked": "owner locked", "Deleted": "owner deleted"}


def _set_state(client, state: str, username: str = "alice"):
    resp = client.post(f"/admin/users/{username}/state", json={"state": state}, headers=client.admin_headers)
    assert resp.status_code == 200, resp.get_json()


@pytest.fixture
def admin_client(client, admin_headers):
    client.admin_headers = admin_headers
    return client


def _register(client, headers) -> tuple[str, dict[str, str]]:
    body = client.post("/workers", json={"tags": [], "groups": []}, headers=headers).get_json()
    return body["worker_id"], {"Authorization": f"Bearer {body['token']}"}


def _login(client, password="password", retain=False):
    return client.post(
        "/login", json={"username": "alice", "md5_password": md5_list(password), "retain": retain}
    )


@pytest.mark.parametrize("state", ["Locked", "Deleted"])
def test_locking_ends_the_users_sessions_and_unlocking_revives_none(admin_client, users, state):
    client = admin_client
    old = users.headers(users.create("alice"))
    assert client.get("/auth", headers=old).status_code == 200
    _set_state(client, state)
    assert client.get("/auth", headers=old).status_code == 403  # while locked: says so
    assert _login(client).status_code == 403
    _set_state(client, "Active")
    resp = client.get("/auth", headers=old)
    assert resp.status_code == 401  # the old session stays ended
    assert "an admin locked or deleted the account" in resp.get_json()["msg"]
    for retain in (True, False):
        token = _login(client, retain=retain).get_json()["token"]
        assert client.get("/auth", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize("state", ["Locked", "Deleted"])
def test_locking_removes_the_users_workers_and_requeues_their_task(app, admin_client, users, state):
    client = admin_client
    alice = users.headers(users.create("alice"))
    bob = users.headers(users.create("bob"))
    task = client.post("/tasks", json=TASK, headers=alice).get_json()["uuid"]
    worker_uuid, worker = _register(client, alice)
    _, bobs_worker = _register(client, bob)
    claimed = client.get("/workers/tasks", headers=worker).get_json()
    assert claimed["uuid"] == task

    _set_state(client, state)

    for call in (
        lambda: client.get("/workers/tasks", headers=worker),
        lambda: client.post("/workers/heartbeat", headers=worker),
        lambda: client.post("/workers/tasks", json={"id": claimed["id"], "op": "Finish"}, headers=worker),
    ):
        resp = call()
        assert resp.status_code == 401
        assert resp.get_json()["removed"] == STATE_REMOVAL[state]
    assert client.post("/workers/heartbeat", headers=bobs_worker).status_code == 200  # others untouched
    info = client.get(f"/tasks/{task}", headers=users.headers(ADMIN_USER)).get_json()
    with app.app_context():
        from app import db
        from app.models import ActiveTask, Worker

        row = db.session.scalar(sa.select(ActiveTask).where(ActiveTask.uuid == uuid_mod.UUID(task)))
        assert row.state.name == "Ready" and row.assigned_worker is None
        assert db.session.scalar(sa.select(Worker).where(Worker.uuid == uuid_mod.UUID(worker_uuid))) is None
        db.session.remove()
    assert info["info"]["state"] == "Ready"


def test_a_worker_whose_owner_is_not_active_is_refused(app, admin_client, users):
    """A registration that raced the lock leaves a worker row: its calls are refused (403)."""
    client = admin_client
    users.create("alice")
    _set_state(client, "Locked")
    token = make_worker(app, "alice", {"alice": "Write"})
    from app import db
    from app.models import Worker

    before = datetime(2020, 1, 1, tzinfo=UTC)
    with app.app_context():
        db.session.execute(sa.update(Worker).values(last_heartbeat=before))
        db.session.commit()
    resp = client.post("/workers/heartbeat", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 403
    assert resp.get_json()["msg"] == resp.get_json()["error"]
    with app.app_context():  # the refused heartbeat's write was rolled back
        assert db.session.scalar(sa.select(Worker.last_heartbeat)) == before
        db.session.remove()
    _set_state(client, "Active")
    assert client.post("/workers/heartbeat", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_locked_user_cannot_register_a_worker(admin_client, users):
    client = admin_client
    alice = users.headers(users.create("alice"))
    _set_state(client, "Locked")
    assert client.post("/workers", json={"tags": [], "groups": []}, headers=alice).status_code == 403
