"""Login, /auth, /redis: credentials, sign-in records, user states."""

from __future__ import annotations

import sqlalchemy as sa

from tests.conftest import ADMIN_USER


def _login(client, md5, username, password="password", **extra):
    return client.post("/login", json={"username": username, "md5_password": md5(password), **extra})


def _user(app, username):
    from app import db
    from app.models import User

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        db.session.remove()
        return user


def test_login_valid_credentials_returns_token_accepted_by_auth(client, users, md5):
    users.create("alice")
    resp = _login(client, md5, "alice")
    assert resp.status_code == 200
    token = resp.get_json()["token"]
    auth = client.get("/auth", headers=users.headers(token))
    assert auth.status_code == 200
    assert auth.mimetype == "text/plain"
    assert auth.get_data(as_text=True) == "alice"


def test_login_records_sign_in_time_and_ip(app, client, users, md5):
    users.create("alice")
    assert _user(app, "alice").current_sign_in_at is None
    assert (
        client.post(
            "/login",
            json={"username": "alice", "md5_password": md5("password")},
            environ_base={"REMOTE_ADDR": "10.1.2.3"},
        ).status_code
        == 200
    )
    first = _user(app, "alice")
    assert first.current_sign_in_ip == "10.1.2.3"
    assert first.current_sign_in_at is not None
    assert (
        client.post(
            "/login",
            json={"username": "alice", "md5_password": md5("password")},
            environ_base={"REMOTE_ADDR": "10.9.9.9"},
        ).status_code
        == 200
    )
    second = _user(app, "alice")
    assert (second.current_sign_in_ip, second.last_sign_in_ip) == ("10.9.9.9", "10.1.2.3")
    assert second.last_sign_in_at == first.current_sign_in_at


def test_login_wrong_password_returns_401(client, users, md5):
    users.create("alice")
    resp = _login(client, md5, "alice", "wrong")
    assert resp.status_code == 401
    assert resp.get_json()["msg"] == "Authentication error: Wrong credentials"


def test_login_unknown_user_returns_401(client, md5):
    resp = _login(client, md5, "nobody")
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "Authentication error: Wrong credentials"


def test_login_bootstrap_admin_succeeds(client, md5):
    assert _login(client, md5, ADMIN_USER, "mitosis_admin").status_code == 200


def test_login_locked_user_returns_403(client, users, md5, admin_headers):
    users.create("alice")
    client.post("/admin/users/alice/state", json={"state": "Locked"}, headers=admin_headers)
    assert _login(client, md5, "alice").status_code == 403


def test_login_deleted_user_returns_403(client, users, md5, admin_headers):
    users.create("alice")
    assert client.delete("/admin/users/alice", headers=admin_headers).status_code == 200
    assert _login(client, md5, "alice").status_code == 403


def test_login_locked_user_answers_403_for_a_wrong_password_too(client, users, md5, admin_headers):
    """Issue #12 item 12: a wrong password answered 401 and the right one 403, which told a brute force
    of a locked account when it had found the password (this test asserted the 401)."""
    users.create("alice")
    client.post("/admin/users/alice/state", json={"state": "Locked"}, headers=admin_headers)
    wrong, right = _login(client, md5, "alice", "wrong"), _login(client, md5, "alice")
    assert wrong.status_code == right.status_code == 403
    assert wrong.get_json() == right.get_json()


def test_auth_without_token_returns_401(client):
    resp = client.get("/auth")
    assert resp.status_code == 401
    assert resp.get_json()["error"].startswith("Authentication error")


def test_redis_info_without_redis_returns_null_url(client, users):
    token = users.create("alice")
    resp = client.get("/redis", headers=users.headers(token))
    assert resp.status_code == 200
    assert resp.get_json() == {"url": None}


def test_redis_info_prefers_client_url(app, client, users):
    token = users.create("alice")
    saved = {k: app.config.get(k) for k in ("REDIS_URL", "REDIS_CLIENT_URL")}
    try:
        app.config.update(REDIS_URL="redis://internal:6379/0", REDIS_CLIENT_URL=None)
        assert client.get("/redis", headers=users.headers(token)).get_json() == {
            "url": "redis://internal:6379/0"
        }
        app.config["REDIS_CLIENT_URL"] = "redis://public:6379/0"
        assert client.get("/redis", headers=users.headers(token)).get_json() == {
            "url": "redis://public:6379/0"
        }
    finally:
        app.config.update(saved)


def test_redis_info_without_token_returns_401(client):
    assert client.get("/redis").status_code == 401
