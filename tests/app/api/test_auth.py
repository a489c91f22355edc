"""/login and /auth through the Flask test client: why a user token stops working."""

from __future__ import annotations

NEWER_LOGIN = "ended by a newer login"


def _login(client, md5, username: str, retain: bool) -> str:
    body = {"username": username, "md5_password": md5("password"), "retain": retain}
    resp = client.post("/login", json=body)
    assert resp.status_code == 200
    return resp.get_json()["token"]


def _auth(client, token: str):
    return client.get("/auth", headers={"Authorization": f"Bearer {token}"})


def test_a_token_ended_by_a_newer_login_gets_a_401_that_says_so(client, users, md5):
    users.create("alice")
    first = _login(client, md5, "alice", retain=True)
    _login(client, md5, "alice", retain=False)
    resp = _auth(client, first)
    assert resp.status_code == 401
    body = resp.get_json()
    assert body["msg"] == body["error"]
    assert body["msg"].startswith("Authentication error: Wrong credentials")
    assert NEWER_LOGIN in body["msg"] and "retain" in body["msg"]


def test_a_retained_login_keeps_the_other_token_valid(client, users, md5):
    users.create("alice")
    first = _login(client, md5, "alice", retain=True)
    _login(client, md5, "alice", retain=True)
    assert _auth(client, first).status_code == 200


def test_a_token_of_a_user_that_no_longer_exists_does_not_blame_a_newer_login(app, client, users, md5):
    import sqlalchemy as sa

    from app import db
    from app.models import User

    users.create("alice")
    token = _login(client, md5, "alice", retain=True)
    with app.app_context():
        db.session.execute(sa.update(User).where(User.username == "alice").values(username="renamed"))
        db.session.commit()
    resp = _auth(client, token)
    assert resp.status_code == 401
    assert resp.get_json()["msg"] == "Authentication error: Wrong credentials"
