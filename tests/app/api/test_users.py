"""Users: changing one's own password."""

from __future__ import annotations

from tests.helpers import db_snapshot


def _change(client, users, token, username, old, new, md5):
    return client.post(
        f"/users/{username}/password",
        json={"old_md5_password": md5(old), "new_md5_password": md5(new)},
        headers=users.headers(token),
    )


def test_change_password_returns_new_token_and_new_password_logs_in(client, users, md5):
    token = users.create("alice")
    resp = _change(client, users, token, "alice", "password", "s3cret", md5)
    assert resp.status_code == 200
    assert (
        client.get("/auth", headers=users.headers(resp.get_json()["token"])).get_data(as_text=True) == "alice"
    )
    assert (
        client.post("/login", json={"username": "alice", "md5_password": md5("password")}).status_code == 401
    )
    assert client.post("/login", json={"username": "alice", "md5_password": md5("s3cret")}).status_code == 200


def test_change_password_wrong_old_password_returns_401(app, client, users, md5):
    token = users.create("alice")
    before = db_snapshot(app)
    assert _change(client, users, token, "alice", "wrong", "s3cret", md5).status_code == 401
    assert db_snapshot(app) == before


def test_change_password_of_other_user_returns_403(app, client, users, md5, admin_headers):
    users.create("alice")
    token = users.create("bob")
    before = db_snapshot(app)
    assert _change(client, users, token, "alice", "password", "s3cret", md5).status_code == 403
    admin_token = admin_headers["Authorization"].split()[1]
    assert _change(client, users, admin_token, "alice", "password", "s3cret", md5).status_code == 403
    assert db_snapshot(app) == before


def test_change_password_locked_user_returns_403(client, users, md5, admin_headers):
    token = users.create("alice")
    client.post("/admin/users/alice/state", json={"state": "Locked"}, headers=admin_headers)
    assert _change(client, users, token, "alice", "password", "s3cret", md5).status_code == 403


def test_a_new_password_is_hashed_before_the_users_row_is_locked(
    client, users, md5, admin_headers, monkeypatch
):
    """argon2 takes tens of ms: no password change, own or by an admin, holds the row lock meanwhile."""
    from app import auth
    from app.services import user as user_service

    steps: list[str] = []
    hash_password, require_user = auth.hash_password, user_service.require_user

    def hashing(md5_password):
        steps.append("hash")
        return hash_password(md5_password)

    def requiring(username, **kw):
        steps.append("lock" if kw.get("for_update") else "read")
        return require_user(username, **kw)

    monkeypatch.setattr(auth, "hash_password", hashing)
    monkeypatch.setattr(user_service, "require_user", requiring)
    token = users.create("alice")
    steps.clear()
    new = _change(client, users, token, "alice", "password", "s3cret", md5).get_json()["token"]
    assert steps == ["hash", "lock"]
    assert client.get("/auth", headers=users.headers(token)).status_code == 401  # earlier tokens stop
    steps.clear()
    resp = client.post(
        "/admin/users/alice/password", json={"new_md5_password": md5("other")}, headers=admin_headers
    )
    assert resp.status_code == 200 and steps == ["hash", "lock"]
    assert client.get("/auth", headers=users.headers(new)).status_code == 401
    assert client.post("/login", json={"username": "alice", "md5_password": md5("other")}).status_code == 200
