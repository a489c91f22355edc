"""app/db.py: the connection pool heals without a per-request ping (issue 13 goal 2)."""

from __future__ import annotations

import time

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
