"""Admin operations: users, passwords, states, quotas, coordinator shutdown."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.helpers import db_snapshot


def _column(app, model_name, name, column):
    from app import db, models

    model = getattr(models, model_name)
    key = model.username if model_name == "User" else model.group_name
    with app.app_context():
        value = db.session.scalar(sa.select(getattr(model, column)).where(key == name))
        db.session.remove()
        return value


def test_admin_create_user_creates_personal_group(app, client, md5, admin_headers):
    resp = client.post(
        "/admin/users",
        json={"username": "bob", "md5_password": md5("pw"), "admin": False},
        headers=admin_headers,
    )
    assert resp.status_code == 200
    assert resp.get_data() == b""
    login = client.post("/login", json={"username": "bob", "md5_password": md5("pw")})
    assert login.status_code == 200
    headers = {"Authorization": f"Bearer {login.get_json()['token']}"}
    assert client.get("/users/groups", headers=headers).get_json() == {"groups": {"bob": "Admin"}}
    assert _column(app, "User", "bob", "group_quota") == 8
    assert _column(app, "User", "bob", "admin") is False


def test_admin_create_admin_user_can_use_admin_routes(client, md5, admin_headers):
    body = {"username": "root2", "md5_password": md5("pw"), "admin": True}
    assert client.post("/admin/users", json=body, headers=admin_headers).status_code == 200
    token = client.post("/login", json={"username": "root2", "md5_password": md5("pw")}).get_json()["token"]
    body = {"username": "carol", "md5_password": md5("pw"), "admin": False}
    assert (
        client.post("/admin/users", json=body, headers={"Authorization": f"Bearer {token}"}).status_code
        == 200
    )


def test_admin_create_existing_user_returns_409(app, client, users, md5, admin_headers):
    users.create("bob")
    before = db_snapshot(app)
    resp = client.post(
        "/admin/users",
        json={"username": "bob", "md5_password": md5("x"), "admin": False},
        headers=admin_headers,
    )
    assert resp.status_code == 409
    assert db_snapshot(app) == before


def test_admin_route_by_non_admin_returns_403(app, client, users, md5):
    headers = users.headers(users.create("bob"))
    before = db_snapshot(app)
    resp = client.post(
        "/admin/users", json={"username": "eve", "md5_password": md5("x"), "admin": True}, headers=headers
    )
    assert resp.status_code == 403
    assert db_snapshot(app) == before


def test_admin_delete_user_marks_deleted_and_keeps_name(app, client, users, md5, admin_headers):
    token = users.create("bob")
    resp = client.delete("/admin/users/bob", headers=admin_headers)
    assert (resp.status_code, resp.get_json()) == (200, {"state": "Deleted"})
    assert client.get("/auth", headers=users.headers(token)).status_code == 403
    resp = client.post(
        "/admin/users",
        json={"username": "bob", "md5_password": md5("x"), "admin": False},
        headers=admin_headers,
    )
    assert resp.status_code == 409


def test_admin_delete_unknown_user_returns_404(client, admin_headers):
    assert client.delete("/admin/users/ghost", headers=admin_headers).status_code == 404


@pytest.mark.parametrize("state", ["Locked", "Deleted", "Active", "locked"])
def test_admin_change_state_returns_state(app, client, users, admin_headers, state):
    users.create("bob")
    resp = client.post("/admin/users/bob/state", json={"state": state}, headers=admin_headers)
    assert (resp.status_code, resp.get_json()) == (200, {"state": state.capitalize()})
    assert _column(app, "User", "bob", "state").name == state.capitalize()


def test_admin_change_state_unknown_user_returns_404(client, admin_headers):
    assert (
        client.post("/admin/users/ghost/state", json={"state": "Locked"}, headers=admin_headers).status_code
        == 404
    )


def test_admin_change_password_unknown_user_returns_404(client, md5, admin_headers):
    resp = client.post(
        "/admin/users/ghost/password", json={"new_md5_password": md5("x")}, headers=admin_headers
    )
    assert resp.status_code == 404


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("+5", 13),
        ("-3", 5),
        ("=2", 2),
        ("20", 20),
        ("-100", 0),
        ("0", 0),
        (" +1 ", 9),
        ("=2147483647", 2147483647),
    ],
)
def test_admin_change_group_quota(app, client, users, admin_headers, change, expected):
    users.create("bob")
    resp = client.post("/admin/users/bob/group-quota", json={"group_quota": change}, headers=admin_headers)
    assert (resp.status_code, resp.get_json()) == (200, {"group_quota": expected})
    assert _column(app, "User", "bob", "group_quota") == expected


def test_admin_group_quota_raised_allows_more_groups(client, users, admin_headers):
    headers = users.headers(users.create("bob"))
    client.post("/admin/users/bob/group-quota", json={"group_quota": "=1"}, headers=admin_headers)
    assert client.post("/groups", json={"group_name": "lab"}, headers=headers).status_code == 403
    client.post("/admin/users/bob/group-quota", json={"group_quota": "+1"}, headers=admin_headers)
    assert client.post("/groups", json={"group_name": "lab"}, headers=headers).status_code == 200


@pytest.mark.parametrize("change", ["", "+", "abc", "1.5", "++1", "+-1", "2147483648", "1e3", "5GB"])
def test_admin_change_group_quota_bad_number_returns_400(app, client, users, admin_headers, change):
    users.create("bob")
    before = db_snapshot(app)
    resp = client.post("/admin/users/bob/group-quota", json={"group_quota": change}, headers=admin_headers)
    assert resp.status_code == 400
    assert db_snapshot(app) == before


def test_admin_change_group_quota_unknown_user_returns_404(client, admin_headers):
    assert (
        client.post(
            "/admin/users/ghost/group-quota", json={"group_quota": "+1"}, headers=admin_headers
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("2GB", 2_000_000_000),
        ("=1GiB", 2**30),
        ("+1GB", 17_000_000_000),
        ("-1gb", 15_000_000_000),
        ("500MB", 500_000_000),
        ("2ki", 2048),
        ("1024", 1024),
        ("-20GB", -4_000_000_000),
        ("1.5KB", 1500),
    ],
)
def test_admin_change_storage_quota(app, client, users, admin_headers, change, expected):
    users.create("bob")
    resp = client.post(
        "/admin/groups/bob/storage-quota", json={"storage_quota": change}, headers=admin_headers
    )
    assert (resp.status_code, resp.get_json()) == (200, {"storage_quota": expected})
    assert _column(app, "Group", "bob", "storage_quota") == expected


@pytest.mark.parametrize("change", ["", "GB", "5XB", "+-5GB", "abc", "1e30"])
def test_admin_change_storage_quota_bad_size_returns_400(app, client, users, admin_headers, change):
    users.create("bob")
    before = db_snapshot(app)
    resp = client.post(
        "/admin/groups/bob/storage-quota", json={"storage_quota": change}, headers=admin_headers
    )
    assert resp.status_code == 400
    assert db_snapshot(app) == before


def test_admin_change_storage_quota_unknown_group_returns_404(client, admin_headers):
    resp = client.post(
        "/admin/groups/ghost/storage-quota", json={"storage_quota": "1GB"}, headers=admin_headers
    )
    assert resp.status_code == 404


def test_admin_shutdown_wrong_secret_returns_403_and_keeps_running(app, client, admin_headers):
    calls = []
    app.config["SHUTDOWN_HOOK"] = lambda: calls.append(1)
    try:
        resp = client.post("/admin/shutdown", json={"secret": "wrong"}, headers=admin_headers, buffered=True)
        assert resp.status_code == 403
        assert calls == []
        resp = client.post(
            "/admin/shutdown", json={"secret": "test-shutdown-secret"}, headers=admin_headers, buffered=True
        )
        assert resp.status_code == 200
        assert calls == [1]
    finally:
        del app.config["SHUTDOWN_HOOK"]


def test_admin_shutdown_by_non_admin_returns_403(app, client, users):
    calls = []
    app.config["SHUTDOWN_HOOK"] = lambda: calls.append(1)
    try:
        headers = users.headers(users.create("bob"))
        resp = client.post(
            "/admin/shutdown", json={"secret": "test-shutdown-secret"}, headers=headers, buffered=True
        )
        assert resp.status_code == 403
        assert calls == []
    finally:
        del app.config["SHUTDOWN_HOOK"]
