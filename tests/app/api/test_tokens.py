"""User tokens: expiry, tampering, kinds and the per-user signature (rotated by logins, password changes)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.builders import make_worker


def _login(client, md5, username, password="password", retain=None):
    body = {"username": username, "md5_password": md5(password)}
    if retain is not None:
        body["retain"] = retain
    resp = client.post("/login", json=body)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["token"]


def _auth(client, token):
    return client.get("/auth", headers={"Authorization": f"Bearer {token}"})


def _token_with(app, username, **claims_and_expiry):
    from flask_jwt_extended import create_access_token

    from app import db
    from app.models import User

    expires = claims_and_expiry.pop("expires", timedelta(hours=1))
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        claims = {"kind": "user", "sign": str(user.auth_signature), **claims_and_expiry}
        token = create_access_token(identity=username, additional_claims=claims, expires_delta=expires)
        db.session.remove()
        return token


def test_token_valid_returns_200(client, users):
    assert _auth(client, users.create("alice")).status_code == 200


def test_token_expired_returns_401(app, client, users):
    users.create("alice")
    resp = _auth(client, _token_with(app, "alice", expires=timedelta(seconds=-5)))
    assert resp.status_code == 401
    assert resp.get_json()["msg"] == "Authentication error: Token has expired"


def _as_alice(token: str) -> str:
    """`token` with its payload's `sub` changed to alice, the signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "alice"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_token_tampered_payload_returns_401(client, users):
    users.create("alice")
    users.create("mallory")
    resp = _auth(client, _as_alice(users.token("mallory")))
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "Authentication error: Invalid token"


def test_token_signed_with_other_secret_returns_401(client, users):
    import jwt

    users.create("alice")
    forged = jwt.encode({"sub": "alice", "kind": "user", "sign": "1", "exp": 4102444800}, "x" * 48, "HS256")
    assert _auth(client, forged).status_code == 401


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "", "Bearer"])
def test_token_malformed_returns_401(client, token):
    resp = _auth(client, token)
    assert resp.status_code == 401, token
    assert set(resp.get_json()) >= {"error", "msg"}


def test_authorization_header_not_bearer_returns_401(client, users):
    token = users.create("alice")
    resp = client.get("/auth", headers={"Authorization": f"Basic {token}"})
    assert resp.status_code == 401


def test_token_wrong_kind_returns_401(app, client, users):
    users.create("alice")
    assert _auth(client, make_worker(app, "alice")).status_code == 401
    assert _auth(client, _token_with(app, "alice", kind="refresh")).status_code == 401


def test_token_of_unknown_user_returns_401(app, client, users):
    users.create("alice")
    token = _token_with(app, "alice")
    from app import db
    from app.models import User

    with app.app_context():
        db.session.execute(sa.update(User).where(User.username == "alice").values(username="renamed"))
        db.session.commit()
    assert _auth(client, token).status_code == 401


def test_token_issued_before_non_retain_login_returns_401(client, users, md5):
    users.create("alice")
    first = _login(client, md5, "alice")
    second = _login(client, md5, "alice")
    assert _auth(client, first).status_code == 401
    assert _auth(client, second).status_code == 200


def test_retain_login_keeps_older_tokens_valid(client, users, md5):
    users.create("alice")
    first = _login(client, md5, "alice")
    second = _login(client, md5, "alice", retain=True)
    assert _auth(client, first).status_code == 200
    assert _auth(client, second).status_code == 200


def test_non_retain_login_after_retain_invalidates_both(client, users, md5):
    users.create("alice")
    first = _login(client, md5, "alice")
    second = _login(client, md5, "alice", retain=True)
    third = _login(client, md5, "alice", retain=False)
    assert [_auth(client, t).status_code for t in (first, second, third)] == [401, 401, 200]


def test_token_issued_before_password_change_returns_401(client, users, md5):
    old = users.create("alice")
    resp = client.post(
        "/users/alice/password",
        json={"old_md5_password": md5("password"), "new_md5_password": md5("new-password")},
        headers=users.headers(old),
    )
    assert resp.status_code == 200
    assert _auth(client, old).status_code == 401
    assert _auth(client, resp.get_json()["token"]).status_code == 200


def test_token_issued_before_admin_password_change_returns_401(client, users, md5, admin_headers):
    old = users.create("alice")
    resp = client.post(
        "/admin/users/alice/password", json={"new_md5_password": md5("reset")}, headers=admin_headers
    )
    assert resp.status_code == 200
    assert resp.get_data() == b""
    assert _auth(client, old).status_code == 401
    assert _auth(client, _login(client, md5, "alice", "reset")).status_code == 200


def test_token_of_locked_user_returns_403_and_stays_ended_when_active_again(client, users, admin_headers):
    """Issue #12 item 8: unlocking used to revive the user's old tokens (this test asserted 200 here)."""
    token = users.create("alice")
    client.post("/admin/users/alice/state", json={"state": "Locked"}, headers=admin_headers)
    assert _auth(client, token).status_code == 403
    client.post("/admin/users/alice/state", json={"state": "Active"}, headers=admin_headers)
    assert _auth(client, token).status_code == 401
    assert _auth(client, users.token("alice")).status_code == 200


# A verified token's claims are remembered per app (app.security.JWTManager): no answer may change.


def _raw_token(app, username, exp: float) -> str:
    """A user token with an `exp` of our choosing (PyJWT keeps a number as given; it reads it as int)."""
    import time

    import jwt

    from app import db
    from app.models import User

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        sign = str(user.auth_signature)
        db.session.remove()
    now = int(time.time())
    claims = {"sub": username, "kind": "user", "sign": sign, "type": "access", "fresh": False, "iat": now,
              "nbf": now, "jti": "t", "exp": exp}  # fmt: skip
    return jwt.encode(claims, app.config["JWT_SECRET_KEY"], "HS256")


def test_a_remembered_token_expires_as_pyjwt_says(app, client, users):
    import time

    users.create("alice")
    exp = int(time.time()) + 3  # valid for 2 to 3 s: room for the first two requests on a busy machine
    token = _raw_token(app, "alice", exp)
    assert _auth(client, token).status_code == 200
    assert _auth(client, token).status_code == 200  # answered from memory
    while time.time() < exp:  # PyJWT: expired once int(exp) <= now
        time.sleep(exp - time.time() + 0.01)
    resp = _auth(client, token)
    assert resp.status_code == 401
    assert resp.get_json() == {
        "error": "Authentication error: Token has expired", "msg": "Authentication error: Token has expired"
    }  # fmt: skip


def test_a_remembered_token_is_not_valid_under_another_key(app, client, users, monkeypatch):
    token = users.create("alice")
    assert _auth(client, token).status_code == 200
    monkeypatch.setitem(app.config, "JWT_SECRET_KEY", "another-secret-" + "x" * 32)
    resp = _auth(client, token)
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "Authentication error: Invalid token"


def test_a_remembered_token_tampered_is_refused(client, users):
    users.create("alice")
    token = users.create("mallory")
    assert _auth(client, token).status_code == 200  # remembered
    resp = _auth(client, _as_alice(token))
    assert resp.status_code == 401
    assert resp.get_json()["error"] == "Authentication error: Invalid token"


def test_a_remembered_user_token_is_still_checked_against_the_user(client, users, md5):
    users.create("alice")
    token = _login(client, md5, "alice")
    assert _auth(client, token).status_code == 200
    _login(client, md5, "alice")  # rotates the signature
    assert _auth(client, token).status_code == 401
