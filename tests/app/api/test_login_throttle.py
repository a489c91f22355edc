"""Login hardening (issue #12 item 12, and login()'s part of item 1): failed logins throttled per user
and per client address (429 + Retry-After, memory or Redis store), password checks bounded per process,
and no lock held across the password check."""

from __future__ import annotations

import sqlite3
import threading
import uuid

import pytest
import redis
import sqlalchemy as sa

from tests.helpers import md5_list


def _login(client, username, password="password", address="10.0.0.1"):
    body = {"username": username, "md5_password": md5_list(password), "retain": True}
    return client.post("/login", json=body, environ_base={"REMOTE_ADDR": address})


@pytest.fixture
def limits(app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_FAILURES_PER_USER", "3/minute")
    monkeypatch.setitem(app.config, "LOGIN_FAILURES_PER_ADDRESS", "5/minute")


def _assert_throttled(resp):
    assert resp.status_code == 429
    assert 1 <= int(resp.headers["Retry-After"]) <= 60
    body = resp.get_json()
    assert body["error"] == body["msg"] and body["msg"].startswith("Too many failed logins")


def test_failed_logins_for_one_user_are_throttled_right_password_too(client, users, limits):
    users.create("alice")
    users.create("bob")
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        assert _login(client, "alice", "wrong", address).status_code == 401
    _assert_throttled(_login(client, "alice", "wrong", "10.0.0.4"))
    _assert_throttled(_login(client, "alice", "password", "10.0.0.4"))
    assert _login(client, "bob", address="10.0.0.1").status_code == 200  # other users are not


def test_failed_logins_from_one_address_are_throttled(client, users, limits):
    users.create("alice")
    for name in ("u1", "u2", "u3", "u4", "u5"):  # unknown users count too
        assert _login(client, name, "wrong").status_code == 401
    _assert_throttled(_login(client, "alice"))
    assert _login(client, "alice", address="10.0.0.9").status_code == 200


def test_successful_logins_are_never_throttled(client, users, limits):
    users.create("alice")
    for _ in range(8):
        assert _login(client, "alice").status_code == 200


def test_a_redis_store_is_shared_and_an_unreachable_one_lets_logins_through(app_config, users, limits):
    from app import create_app
    from app.services import throttle

    name = f"throttled-{uuid.uuid4().hex[:8]}"
    users.create(name)
    url = "redis://127.0.0.1:6379/0"
    settings = {**app_config, "REDIS_URL": url, "LOGIN_FAILURES_PER_USER": "2/minute"}
    try:
        client = create_app(settings).test_client()
        assert _login(client, name, "wrong").status_code == 401
        assert _login(client, name, "wrong", "10.0.0.2").status_code == 401
        throttle._limiters.clear()  # as another coordinator process would: nothing in this process's memory
        _assert_throttled(_login(create_app(settings).test_client(), name, address="10.0.0.3"))
        assert redis.Redis.from_url(url).keys(f"mito*{name}*")
        down = create_app({**settings, "REDIS_URL": "redis://127.0.0.1:1/0"}).test_client()
        assert _login(down, name, address="10.0.0.4").status_code == 200
        assert _login(down, name, "wrong", address="10.0.0.4").status_code == 401
    finally:
        keys = redis.Redis.from_url(url).keys(f"mito*{name}*")
        if keys:
            redis.Redis.from_url(url).delete(*keys)


def test_storage_follows_the_configuration():
    from app.services.throttle import storage_uri

    assert storage_uri({"REDIS_URL": None, "BROKER_URL": None}) == "memory://"
    assert storage_uri({"REDIS_URL": None, "BROKER_URL": "redis://b:6379/1"}) == "redis://b:6379/1"
    assert storage_uri({"REDIS_URL": "redis://r:6379/0", "BROKER_URL": "redis://b/1"}) == "redis://r:6379/0"
    assert storage_uri({"REDIS_URL": None, "BROKER_URL": "memory://"}) == "memory://"


def test_a_bad_limit_fails_the_start(app_config):
    from app import create_app
    from app.config import ConfigError

    with pytest.raises(ConfigError, match="MITO_LOGIN_FAILURES_PER_USER='lots': expected e.g. 10/minute"):
        create_app({**app_config, "LOGIN_FAILURES_PER_USER": "lots"})


def test_password_checks_beyond_the_concurrency_bound_wait_then_get_429(app, client, users, monkeypatch):
    from app import auth

    users.create("alice")
    monkeypatch.setattr(auth, "SLOT_WAIT_SECONDS", 0.2)
    with app.test_request_context(), auth.verify_slot():  # the only slot (MITO_LOGIN_CONCURRENCY=1)
        resp = _login(client, "alice")
    assert resp.status_code == 429
    assert resp.headers["Retry-After"] == "1"
    assert resp.get_json()["msg"] == "Too many logins in progress: retry later"
    assert _login(client, "alice").status_code == 200


def test_login_holds_no_lock_across_the_password_check(app, client, users, db_url, monkeypatch):
    """Before, login() locked the users row (SQLite: the whole database) across the argon2 check."""
    from app import auth

    users.create("alice")
    inside, release = threading.Event(), threading.Event()
    real = auth.verify_password

    def slow_verify(encrypted, md5_password):
        inside.set()
        assert release.wait(30)
        return real(encrypted, md5_password)

    monkeypatch.setattr(auth, "verify_password", slow_verify)
    result = {}
    thread = threading.Thread(target=lambda: result.update(resp=_login(app.test_client(), "alice")))
    thread.start()
    try:
        assert inside.wait(30)
        assert _row_lockable(db_url, "alice")
    finally:
        release.set()
        thread.join(30)
    assert result["resp"].status_code == 200


def _row_lockable(db_url: str, username: str) -> bool:
    if db_url.startswith("sqlite"):
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"), timeout=0.5, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            conn.close()
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as conn:
            conn.execute(
                sa.text("SELECT id FROM users WHERE username = :u FOR UPDATE NOWAIT"), {"u": username}
            ).all()
            conn.rollback()
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()
