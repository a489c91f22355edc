"""app/db.py: the connection pool heals without a per-request ping (issue 13 goal 2)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from app import db
from app.config import normalise_db_url
from tests.conftest import PG_ADMIN_URL

pytestmark = pytest.mark.postgres_only


def _pooled_pids(engine: sa.Engine, count: int) -> list[int]:
    """Open `count` pooled connections at once and give them back; their server process ids."""
    conns = [engine.connect() for _ in range(count)]
    try:
        return [c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() for c in conns]
    finally:
        for c in conns:
            c.close()


def _terminate(pids: list[int]) -> None:
    admin = sa.create_engine(normalise_db_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            for pid in pids:
                assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
            deadline = time.monotonic() + 10
            alive = sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:p)")
            while conn.execute(alive, {"p": pids}).scalar() and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        admin.dispose()


def test_no_ping_per_checkout(app):
    engine = db.get_engine(app.config["DB_URL"])
    assert not engine.pool._pre_ping
    assert engine.pool._recycle == db.POOL_RECYCLE_S


def test_terminated_idle_connections_fail_no_request(app, client, users):
    """Every pooled connection's backend terminated (as by a PostgreSQL restart): no request fails."""
    headers = users.headers(users.create("alice"))
    engine = db.get_engine(app.config["DB_URL"])
    pids = _pooled_pids(engine, 3)
    _terminate(pids)
    for _ in range(5):
        assert client.get("/users/groups", headers=headers).status_code == 200
    assert not set(_pooled_pids(engine, 3)) & set(pids)


def test_a_connection_terminated_mid_transaction_fails_one_request_only(app, client, users):
    """A backend terminated while its connection is in use fails that request; the next ones heal."""
    headers = users.headers(users.create("alice"))
    with app.app_context():
        pid = db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        _terminate([pid])
        with pytest.raises(sa.exc.OperationalError):
            db.session.execute(sa.text("SELECT 1"))
        db.session.rollback()
        assert db.session.execute(sa.text("SELECT 1")).scalar_one() == 1
    for _ in range(3):
        assert client.get("/users/groups", headers=headers).status_code == 200


@contextlib.contextmanager
def _transaction_statuses(engine: sa.Engine) -> Iterator[list[int]]:
    """The connection's transaction status after each statement the engine sends meanwhile."""
    seen: list[int] = []

    def after(conn, *args) -> None:
        seen.append(conn.connection.dbapi_connection.info.transaction_status)

    sa.event.listen(engine, "after_cursor_execute", after)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "after_cursor_execute", after)


def test_a_query_request_reads_in_autocommit_and_gives_back_a_transactional_connection(app, client, users):
    """POST /tasks/query holds no transaction (no BEGIN, no ROLLBACK round trip): after each of its
    statements (the token's user, the group, the page) the connection is idle; once given back to the pool
    it begins transactions again."""
    from psycopg2.extensions import TRANSACTION_STATUS_IDLE, TRANSACTION_STATUS_INTRANS

    headers = users.headers(users.create("alice"))
    engine = db.get_engine(app.config["DB_URL"])
    with _transaction_statuses(engine) as seen:
        resp = client.post("/tasks/query", json={"limit": 10}, headers=headers)
        assert resp.status_code == 200, resp.get_json()
        assert len(seen) == 3 and set(seen) == {TRANSACTION_STATUS_IDLE}
    with _transaction_statuses(engine) as seen:
        assert client.get("/users/groups", headers=headers).status_code == 200  # not marked: a transaction
        assert seen and set(seen) == {TRANSACTION_STATUS_INTRANS}
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
        assert conn.connection.dbapi_connection.info.transaction_status == TRANSACTION_STATUS_INTRANS


def test_a_write_within_autocommit_reads_is_still_one_transaction(app, users, app_ctx):
    """@transactional under reads_in_autocommit ends the read first: its writes commit or roll back whole."""
    users.create("alice")
    named = sa.text("SELECT count(*) FROM users WHERE username = :name")

    @db.transactional
    def rename_then_fail() -> None:
        db.session.execute(sa.text("UPDATE users SET username = 'renamed' WHERE username = 'alice'"))
        raise RuntimeError("after the write")

    @db.reads_in_autocommit
    def read_then_write() -> None:
        assert (
            db.session.execute(sa.text("SELECT count(*) FROM users WHERE username = 'alice'")).scalar() == 1
        )
        rename_then_fail()

    with pytest.raises(RuntimeError, match="after the write"):
        read_then_write()
    db.session.remove()
    assert db.session.execute(named, {"name": "renamed"}).scalar() == 0
