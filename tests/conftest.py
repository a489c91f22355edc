"""Test fixtures. The suite runs on PostgreSQL (MITO_TEST_DB=postgresql, the default) and on SQLite.

Each pytest session migrates its own database once with Alembic (never create_all); each test starts from
empty tables (DELETE in foreign-key order) plus the bootstrap admin, created as `mito db upgrade` does
(create_app itself writes nothing to the database). Data is really committed,
so tests can run real coordinator processes, threads and Celery workers against the same database.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from tests.builders import Sched, World
from tests.helpers import TEST_JWT_SECRET, LiveCoordinator, local_path, md5_list

BACKEND = os.environ.get("MITO_TEST_DB", "postgresql")
PG_ADMIN_URL = os.environ.get("MITO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ADMIN_USER, ADMIN_PASSWORD = "mitosis_admin", "mitosis_admin"


def pytest_report_header(config):
    return f"mitosis test database backend: {BACKEND}"


def backend_independent(item) -> bool:
    """True for a test whose outcome cannot depend on MITO_TEST_DB: marked `backend_independent`, or one that
    uses no test database (neither `db_url` nor anything built on it, such as `app`, among its fixtures) in a
    module that never reads BACKEND. Such a test runs once, in the PostgreSQL pass of `make test`."""
    if item.get_closest_marker("backend_independent"):
        return True
    module = getattr(item, "module", None)
    return "db_url" not in getattr(item, "fixturenames", ("db_url",)) and not hasattr(module, "BACKEND")


def pytest_collection_modifyitems(config, items):
    """On SQLite (MITO_TEST_DB=sqlite): tests marked postgres_only are deselected, and backend-independent
    tests are skipped (they ran, identically, in the PostgreSQL pass)."""
    if BACKEND != "sqlite":
        return
    dropped = [item for item in items if item.get_closest_marker("postgres_only")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker("postgres_only")]
    skip = pytest.mark.skip(reason="backend independent: runs once, in the PostgreSQL pass of `make test`")
    for item in items:
        if backend_independent(item):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def db_url(tmp_path_factory) -> str:
    from app import migrate
    from app.config import normalise_db_url

    if BACKEND == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'mitosis.db'}"
        migrate.upgrade(url)
        yield url
        return
    name = f"mito_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(normalise_db_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = normalise_db_url(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    migrate.upgrade(url)
    yield url
    from app.db import _engines

    for engine in list(_engines.values()):
        engine.dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def app_config(db_url, data_dir) -> dict:
    return {
        "TESTING": True,
        "DB_URL": db_url,
        "DATA_DIR": str(data_dir),
        "JWT_SECRET": TEST_JWT_SECRET,
        "SHUTDOWN_SECRET": "test-shutdown-secret",
        "ADMIN_USER": ADMIN_USER,
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        "CONFIG_FILE": "/nonexistent/config.toml",
        "LIVENESS_MARKER": False,  # tests mark the coordinator alive themselves (tests/helpers.py)
    }


@pytest.fixture(scope="session")
def app(app_config):
    from app import create_app

    return create_app(app_config)


def _clean_tables(app, *, admin: bool = True) -> None:
    """Empty every table, then (unless `admin=False`) create the bootstrap admin as a fresh install would."""
    from app import db
    from app.db import Base
    from app.services import user as user_service

    with app.app_context():
        engine = db.session.get_bind()
        tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
        with engine.begin() as conn:
            # DELETE, not TRUNCATE: on tables this small it is several times cheaper on PostgreSQL.
            for table in tables:
                conn.exec_driver_sql(f"DELETE FROM {table}")
        if admin:  # create_app writes nothing: `mito db upgrade` / coordinator start create the admin
            user_service.ensure_admin(app.config["ADMIN_USER"], app.config["ADMIN_PASSWORD"])


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashes():
    """Hash each distinct password once per session: argon2 is deliberately slow, and tests create many users.

    Only the in-process services are affected; coordinator subprocesses hash as in production.
    """
    from app import auth

    real = auth.hash_password
    cache: dict[bytes, str] = {}

    def cached(md5_password: bytes) -> str:
        if md5_password not in cache:
            cache[md5_password] = real(md5_password)
        return cache[md5_password]

    auth.hash_password = cached
    yield
    auth.hash_password = real


@pytest.fixture(autouse=True)
def clean_db(request):
    """Empty every table before each test that uses the database."""
    if "app" in request.fixturenames or "db_url" in request.fixturenames:
        _clean_tables(request.getfixturevalue("app"))
        from app.services import throttle

        throttle.reset()  # failed logins counted by an earlier test do not throttle this one
    yield


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def app_ctx(app):
    with app.app_context():
        yield


class Users:
    """Create users and tokens directly through the services (fast), for API tests."""

    def __init__(self, app):
        self.app = app

    def create(self, username: str, password: str = "password", admin: bool = False) -> str:
        """Create a user and return a fresh token (retain login)."""
        from app import auth
        from app.services import user as user_service

        with self.app.app_context():
            user = user_service.create_user(
                username=username, md5_password=auth.md5_bytes(password), admin=admin
            )
            return auth.issue_user_token(user)

    def token(self, username: str) -> str:
        from app import auth, db
        from app.models import User

        with self.app.app_context():
            user = db.session.scalar(sa.select(User).where(User.username == username))
            return auth.issue_user_token(user)

    def headers(self, token_or_username: str) -> dict[str, str]:
        token = token_or_username if "." in token_or_username else self.token(token_or_username)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def users(app) -> Users:
    return Users(app)


@pytest.fixture
def admin_headers(users) -> dict[str, str]:
    return users.headers(ADMIN_USER)


@pytest.fixture
def md5():
    return md5_list


@pytest.fixture(scope="module")
def live_coordinator(db_url, tmp_path_factory, app):
    """A real `mito coordinator` process on the test database (module-scoped)."""
    coordinator = LiveCoordinator(db_url, tmp_path_factory.mktemp("live")).start()
    yield coordinator
    coordinator.stop()


@pytest.fixture
def sched(client, users) -> Sched:
    """Submit tasks and register, fetch and report as workers through the API."""
    return Sched(client, users)


@pytest.fixture
def alice(users):
    return users.headers(users.create("alice"))


@pytest.fixture
def bob(users):
    return users.headers(users.create("bob"))


@pytest.fixture
def world(app, users) -> World:
    """Users of every role in one group, and rows (tasks, workers, objects) built for the storage tests."""
    return World(app, users)


@pytest.fixture
def put_object(client):
    """PUT bytes to a signed local-store URL through the test client."""

    def put(url: str, data: bytes, **headers):
        return client.put(local_path(url), data=data, headers=headers)

    return put


@pytest.fixture
def get_object(client):
    def get(url: str):
        return client.get(local_path(url))

    return get


REDIS_RESERVATION = "mitosis:test-redis-db:{}"


@pytest.fixture(scope="session")
def redis_db_number():
    """Reserve one of Redis's numbered databases (1-15) for this run, so parallel runs never share a queue."""
    control = redis.Redis(host="127.0.0.1", port=6379, db=0)
    for number in range(1, 16):
        if control.set(REDIS_RESERVATION.format(number), os.getpid(), nx=True, ex=3600):
            break
    else:
        pytest.fail("no free Redis database number (1-15)")
    redis.Redis(host="127.0.0.1", port=6379, db=number).flushdb()
    yield number
    redis.Redis(host="127.0.0.1", port=6379, db=number).flushdb()
    control.delete(REDIS_RESERVATION.format(number))
    control.close()


@pytest.fixture
def redis_db(redis_db_number):
    """The URL of this run's Redis database, emptied before each test."""
    url = f"redis://127.0.0.1:6379/{redis_db_number}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url
