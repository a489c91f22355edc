"""The last active site admin cannot be locked or deleted: nothing could restore it (issue #12 item 10)."""

from __future__ import annotations

import threading

import pytest

from tests.app.api.test_admin import _column
from tests.conftest import ADMIN_USER
from tests.helpers import db_snapshot

LAST_ADMIN = (
    "Authentication error: Permission denied: the last active admin cannot be locked or deleted "
    "(make another user admin first)"
)


def _lock(client, headers, username):
    return client.post(f"/admin/users/{username}/state", json={"state": "Locked"}, headers=headers)


@pytest.mark.parametrize("how", ["lock", "delete"])
def test_only_admin_removing_itself_is_refused_and_changes_nothing(app, client, admin_headers, how):
    before = db_snapshot(app)
    if how == "lock":
        resp = _lock(client, admin_headers, ADMIN_USER)
    else:
        resp = client.delete(f"/admin/users/{ADMIN_USER}", headers=admin_headers)
    assert resp.status_code == 403
    assert resp.get_json() == {"error": LAST_ADMIN, "msg": LAST_ADMIN}
    assert db_snapshot(app) == before
    assert client.get("/auth", headers=admin_headers).status_code == 200


def test_an_admin_may_be_locked_while_another_stays_active(app, client, users, admin_headers):
    second = users.headers(users.create("root2", admin=True))
    assert _lock(client, second, ADMIN_USER).status_code == 200
    assert _column(app, "User", ADMIN_USER, "state").name == "Locked"
    resp = client.delete("/admin/users/root2", headers=second)
    assert resp.status_code == 403
    assert resp.get_json()["msg"] == LAST_ADMIN
    assert _column(app, "User", "root2", "state").name == "Active"


def test_a_locked_admin_does_not_count_as_active(app, client, users, admin_headers):
    users.create("root2", admin=True)
    assert _lock(client, admin_headers, "root2").status_code == 200
    assert _lock(client, admin_headers, ADMIN_USER).status_code == 403
    assert (
        client.post("/admin/users/root2/state", json={"state": "Active"}, headers=admin_headers).status_code
        == 200
    )
    assert _lock(client, admin_headers, ADMIN_USER).status_code == 200


def test_ordinary_users_are_locked_and_deleted_as_before(app, client, users, admin_headers):
    users.create("bob")
    assert _lock(client, admin_headers, "bob").status_code == 200
    assert client.delete("/admin/users/bob", headers=admin_headers).status_code == 200
    assert _column(app, "User", "bob", "state").name == "Deleted"


def test_two_admins_locking_each_other_at_once_leave_one_active(app, users, admin_headers):
    second = users.headers(users.create("root2", admin=True))
    barrier = threading.Barrier(2)
    statuses: dict[str, int] = {}

    def lock(headers, target):
        client = app.test_client()
        barrier.wait()
        statuses[target] = _lock(client, headers, target).status_code

    threads = [
        threading.Thread(target=lock, args=(admin_headers, "root2")),
        threading.Thread(target=lock, args=(second, ADMIN_USER)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    states = {name: _column(app, "User", name, "state").name for name in (ADMIN_USER, "root2")}
    assert sorted(states.values()) == ["Active", "Locked"], (statuses, states)
    assert 200 in statuses.values()
