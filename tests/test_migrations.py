"""Migrations on a fresh database of the suite's backend: empty -> head -> base, one head, no model drift."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from tests.conftest import BACKEND, PG_ADMIN_URL


@pytest.fixture(scope="module")
def own_db_url(tmp_path_factory):
    """A database of this module's own (not the session one), dropped afterwards."""
    from app.config import normalise_db_url

    if BACKEND == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('migrations') / 'migrations.db'}"
        return
    name = f"mito_migr_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(normalise_db_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield normalise_db_url(PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name)
    from app.db import _engines

    for url in [u for u in _engines if name in u]:
        _engines.pop(url).dispose()
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def fresh_db_url(own_db_url):
    """The module's database, emptied (every migration reverted) before each test."""
    from app import migrate

    migrate.downgrade(own_db_url, "base")
    return own_db_url


def _tables(url: str) -> set[str]:
    from app.db import get_engine

    engine = get_engine(url)
    with engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names()) - {"alembic_version"}


def test_migrations_have_one_head():
    from app.migrate import alembic_config

    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1


def test_upgrade_to_head_creates_every_table_and_downgrade_removes_them(fresh_db_url):
    from app import migrate
    from app.db import Base

    assert _tables(fresh_db_url) == set()
    migrate.upgrade(fresh_db_url)
    assert _tables(fresh_db_url) == set(Base.metadata.tables)
    migrate.downgrade(fresh_db_url, "base")
    assert _tables(fresh_db_url) == set()
    migrate.upgrade(fresh_db_url)  # and back up again: the downgrade left nothing behind that clashes
    assert _tables(fresh_db_url) == set(Base.metadata.tables)


def test_models_and_migrations_agree(fresh_db_url):
    """`alembic check`: autogenerate finds no difference between the models and the migrated schema."""
    from app import migrate

    migrate.upgrade(fresh_db_url)
    command.check(migrate.alembic_config(fresh_db_url))


def test_db_upgrade_command_migrates(fresh_db_url, tmp_path):
    import subprocess
    import sys

    from tests.helpers import ROOT, coordinator_env

    env = coordinator_env(fresh_db_url, tmp_path)
    subprocess.run(
        [sys.executable, "-m", "mito", "db", "upgrade"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    from app.db import Base

    assert _tables(fresh_db_url) == set(Base.metadata.tables)
    subprocess.run(
        [sys.executable, "-m", "mito", "db", "downgrade"], env=env, cwd=ROOT, check=True, capture_output=True
    )
    assert _tables(fresh_db_url) == set()
