"""Test fixtures. The suite runs on PostgreSQL (MITO_TEST_DB=postgresql, the default) and on SQLite.

Each pytest session migrates its own database once with Alembic (never create_all); each test starts from
empty tables (DELETE in foreign-key order) plus the bootstrap admin. Data is really committed,
so tests can run real coordinator processes, threads and Celery workers against the same database.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.helpers import TEST_JWT_SECRET, LiveCoordinator, md5_list

BACKEND = os.environ.get("MITO_TEST_DB", "postgresql")
PG_ADMIN_URL = os.environ.get("MITO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
ADMIN_USER, ADMIN_PASSWORD = "mitosis_admin", "mitosis_admin"


def pytest_report_header(config):
    return f"mitosis test database backend: {BACKEND}"


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
    }


@pytest.fixture(scope="session")
def app(app_config):
    from app import create_app

    return create_app(app_config)


def _clean_tables(app) -> None:
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
            user = user_service.create_user(username=username, md5_password=auth.md5_bytes(password), admin=admin)
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
