"""The dashboard's extension endpoints (tag Dashboard): GET /users/me and GET /admin/users."""

from __future__ import annotations

import pytest


def test_users_me_describes_the_caller(client, users):
    token = users.create("alice")
    resp = client.get("/users/me", headers=users.headers(token))
    assert resp.status_code == 200
    assert resp.get_json() == {
        "username": "alice", "admin": False, "state": "Active", "group_quota": 8, "group_count": 1,
    }  # fmt: skip


def test_users_me_says_admin_for_an_admin(client, admin_headers):
    body = client.get("/users/me", headers=admin_headers).get_json()
    assert body["username"] == "mitosis_admin" and body["admin"] is True


def test_users_me_without_token_is_401(client):
    resp = client.get("/users/me")
    assert resp.status_code == 401
    assert set(resp.get_json()) >= {"error", "msg"}


def test_admin_lists_users_by_name_with_count(client, users, admin_headers):
    for name in ("carol", "alice", "bob"):
        users.create(name)
    resp = client.get("/admin/users?limit=2&offset=1", headers=admin_headers)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["count"] == 4
    assert [u["username"] for u in body["users"]] == ["bob", "carol"]
    assert set(body["users"][0]) == {
        "username", "admin", "state", "group_quota", "group_count", "created_at", "last_sign_in_at",
    }  # fmt: skip


def test_non_admin_may_not_list_users(client, users):
    token = users.create("alice")
    resp = client.get("/admin/users", headers=users.headers(token))
    assert resp.status_code == 403
    assert set(resp.get_json()) >= {"error", "msg"}


@pytest.mark.parametrize("query", ["limit=-1", "limit=1001", "offset=-3", "limit=ten"])
def test_admin_users_bad_page_is_400(client, admin_headers, query):
    resp = client.get(f"/admin/users?{query}", headers=admin_headers)
    assert resp.status_code == 400
    assert set(resp.get_json()) >= {"error", "msg"}


def _submit(client, headers, group: str) -> str:
    body = {"group_name": group, "tags": [], "labels": [], "timeout": "1m", "priority": 0,
            "task_spec": {"args": ["true"]}}  # fmt: skip
    resp = client.post("/tasks", json=body, headers=headers)
    assert resp.status_code == 200
    return resp.get_json()["uuid"]


def test_group_task_counts_follow_the_tasks(client, users):
    headers = users.headers(users.create("alice"))
    uuids = [_submit(client, headers, "alice") for _ in range(3)]
    assert client.delete(f"/tasks/{uuids[0]}", headers=headers).status_code == 200
    resp = client.get("/groups/alice/task-counts", headers=headers)
    assert resp.status_code == 200
    assert resp.get_json() == {
        "group_name": "alice",
        "counts": {"Pending": 0, "Ready": 2, "Running": 0, "Finished": 0, "Cancelled": 1, "Unknown": 0},
    }


def test_group_task_counts_need_membership(client, users, admin_headers):
    users.create("alice")
    bob = users.headers(users.create("bob"))
    resp = client.get("/groups/alice/task-counts", headers=bob)
    assert resp.status_code == 403 and set(resp.get_json()) >= {"error", "msg"}
    assert client.get("/groups/alice/task-counts", headers=admin_headers).status_code == 200  # site admin
    assert client.get("/groups/nope/task-counts", headers=bob).status_code == 404
