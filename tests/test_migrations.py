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


def test_metrics_migration_counts_the_tasks_already_stored(fresh_db_url):
    """0002 fills task_counts from the stored tasks, so /metrics is right from the first scrape."""
    from app import migrate
    from app.db import get_engine
    from app.models import ActiveTask, ArchivedTask, Group, TaskState, User

    migrate.upgrade(fresh_db_url, "0001")
    engine = get_engine(fresh_db_url)
    with engine.begin() as conn:
        user = conn.execute(
            sa.insert(User).values(username="u", encrypted_password="x").returning(User.id)
        ).scalar()
        group = conn.execute(
            sa.insert(Group).values(group_name="g", creator_id=user).returning(Group.id)
        ).scalar()
        task = {"creator_id": user, "group_id": group, "timeout": 60, "spec": {}, "tags": [], "labels": []}
        for task_id, state in enumerate([TaskState.Ready, TaskState.Ready, TaskState.Running], start=1):
            conn.execute(
                sa.insert(ActiveTask).values(task_id=task_id, state=state, uuid=uuid.uuid4(), **task)
            )
        conn.execute(
            sa.insert(ArchivedTask).values(
                id=99, task_id=4, state=TaskState.Finished, uuid=uuid.uuid4(), **task
            )
        )
    migrate.upgrade(fresh_db_url)
    with engine.connect() as conn:
        counts = dict(conn.execute(sa.text("SELECT state, sum(count) FROM task_counts GROUP BY state")).all())
    assert counts == {int(TaskState.Ready): 2, int(TaskState.Running): 1, int(TaskState.Finished): 1}
    migrate.downgrade(fresh_db_url, "0001")
    assert {"task_counts", "metric_counters"}.isdisjoint(_tables(fresh_db_url))


CAMPAIGNS, BEFORE_CAMPAIGNS = "0004", "0003"  # the campaigns revision and the one before it


def test_campaigns_migration_keeps_tasks_both_ways(fresh_db_url):
    """The campaigns revision: stored tasks join no campaign; downgrading keeps campaign tasks as tasks."""
    from datetime import UTC, datetime

    from app import migrate
    from app.db import get_engine

    migrate.upgrade(fresh_db_url, BEFORE_CAMPAIGNS)
    engine = get_engine(fresh_db_url)
    now, empty = datetime.now(UTC), [] if BACKEND != "sqlite" else "[]"
    stamps = {"created_at": now, "updated_at": now}
    task = {"creator_id": 1, "group_id": 1, "tags": empty, "labels": empty, "state": 1, "timeout": 60,
            "priority": 0, "spec": "{}", "lost_count": 0, "tags_key": "[]", "attempt": 0,
            "cancel_requested": False, **stamps}  # fmt: skip
    with engine.begin() as conn:
        for table, values in (
            ("users", {"id": 1, "username": "u", "encrypted_password": "x", "admin": False, "state": 0,
                       "group_quota": 8, "group_count": 1, **stamps}),
            ("groups", {"id": 1, "group_name": "g", "creator_id": 1, "state": 0, "task_count": 2,
                        "storage_used": 0, "storage_quota": 1, **stamps}),
            ("active_tasks", {"id": 1, "task_id": 1, "uuid": uuid.UUID(int=1).hex, **task}),
        ):  # fmt: skip
            # Columns named only (no model defaults): the schema is an older one.
            conn.execute(sa.insert(sa.table(table, *map(sa.column, values))).values(**values))
    migrate.upgrade(fresh_db_url, CAMPAIGNS)
    with engine.begin() as conn:
        assert conn.execute(sa.text("SELECT campaign_id, params FROM active_tasks")).all() == [(None, None)]
        conn.execute(
            sa.text(
                "INSERT INTO campaigns (id, uuid, name, group_id, creator_id, parameters, repeat, template, "
                "task_count, created_at, updated_at) VALUES (1, :u, 'c', 1, 1, '[]', 1, '{}', 1, :t, :t)"
            ),
            {"u": uuid.UUID(int=9).hex, "t": now},
        )
        values = {
            "id": 2,
            "task_id": 2,
            "uuid": uuid.UUID(int=2).hex,
            "campaign_id": 1,
            "campaign_repeat": 1,
            **task,
        }
        conn.execute(sa.insert(sa.table("active_tasks", *map(sa.column, values))).values(**values))
    migrate.downgrade(fresh_db_url, BEFORE_CAMPAIGNS)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id FROM active_tasks ORDER BY id")).scalars().all() == [1, 2]
    assert "campaigns" not in _tables(fresh_db_url)


def test_attempts_migration_gives_stored_tasks_no_policy_and_keeps_them_on_downgrade(fresh_db_url):
    """0005: stored tasks get no retry policy and no retries used; downgrading drops only the history."""
    from datetime import UTC, datetime

    from app import migrate
    from app.db import get_engine

    migrate.upgrade(fresh_db_url, "0004")
    engine = get_engine(fresh_db_url)
    now, empty = datetime.now(UTC), [] if BACKEND != "sqlite" else "[]"
    stamps = {"created_at": now, "updated_at": now}
    with engine.begin() as conn:
        for table, values in (
            ("users", {"id": 1, "username": "u", "encrypted_password": "x", "admin": False, "state": 0,
                       "group_quota": 8, "group_count": 1, **stamps}),
            ("groups", {"id": 1, "group_name": "g", "creator_id": 1, "state": 0, "task_count": 1,
                        "storage_used": 0, "storage_quota": 1, **stamps}),
            ("archived_tasks", {"id": 1, "task_id": 1, "uuid": uuid.UUID(int=1).hex, "creator_id": 1,
                                "group_id": 1, "tags": empty, "labels": empty, "state": 3, "timeout": 60,
                                "priority": 0, "spec": "{}", "lost_count": 0, **stamps}),
        ):  # fmt: skip
            conn.execute(sa.insert(sa.table(table, *map(sa.column, values))).values(**values))
    migrate.upgrade(fresh_db_url, "0005")
    with engine.begin() as conn:
        row = conn.execute(sa.text("SELECT retry_policy, retry_count FROM archived_tasks")).one()
        assert tuple(row) == (None, 0)
        conn.execute(
            sa.text("INSERT INTO task_attempts (id, task_uuid, number, started_at) VALUES (1, :u, 1, :t)"),
            {"u": uuid.UUID(int=1).hex, "t": now},
        )
    migrate.downgrade(fresh_db_url, "0004")
    assert "task_attempts" not in _tables(fresh_db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id FROM archived_tasks")).scalars().all() == [1]


QUERY_INDEXES, BEFORE_QUERY_INDEXES = "0006", "0005"


def _index_columns(url: str, table: str) -> dict[str, list[str]]:
    from app.db import get_engine

    with get_engine(url).connect() as conn:
        return {ix["name"]: ix["column_names"] for ix in sa.inspect(conn).get_indexes(table)}


def test_query_indexes_migration_orders_by_created_then_id_both_ways(fresh_db_url):
    """The query-index revision: both tables in (created_at, id) order, whole and by state; and back."""
    from app import migrate

    migrate.upgrade(fresh_db_url, QUERY_INDEXES)
    for table in ("active_tasks", "archived_tasks"):
        indexes = _index_columns(fresh_db_url, table)
        assert indexes[f"ix_{table}_group_created"] == ["group_id", "created_at", "id"]
        assert indexes[f"ix_{table}_group_state_created"] == ["group_id", "state", "created_at", "id"]
    migrate.downgrade(fresh_db_url, BEFORE_QUERY_INDEXES)
    active, archived = (_index_columns(fresh_db_url, t) for t in ("active_tasks", "archived_tasks"))
    assert active["ix_active_tasks_group_created"] == ["group_id", "created_at"]
    assert active["ix_active_tasks_group_state_created"] == ["group_id", "state", "created_at"]
    assert archived["ix_archived_tasks_group_created"] == ["group_id", "created_at"]
    assert "ix_archived_tasks_group_state_created" not in archived


def test_bucket_tags_index_migration_both_ways(fresh_db_url):
    from app import migrate

    migrate.upgrade(fresh_db_url, "0007")
    assert _index_columns(fresh_db_url, "task_buckets")["ix_task_buckets_tags"] == ["tags"]
    migrate.downgrade(fresh_db_url, "0006")
    assert "ix_task_buckets_tags" not in _index_columns(fresh_db_url, "task_buckets")


def test_artifact_attempts_migration_keeps_artifacts_current_and_downgrades_to_the_current_ones(fresh_db_url):
    """0009: stored artifacts are users' (attempt 0) and current; downgrading keeps only current rows."""
    from datetime import UTC, datetime

    from app import migrate
    from app.db import get_engine

    migrate.upgrade(fresh_db_url, "0008")
    engine = get_engine(fresh_db_url)
    now = datetime.now(UTC)
    stamps = {"created_at": now, "updated_at": now}
    with engine.begin() as conn:
        for table, values in (
            ("users", {"id": 1, "username": "u", "encrypted_password": "x", "admin": False, "state": 0,
                       "group_quota": 8, "group_count": 1, **stamps}),
            ("groups", {"id": 1, "group_name": "g", "creator_id": 1, "state": 0, "task_count": 0,
                        "storage_used": 8, "storage_quota": 100, **stamps}),
            ("artifacts", {"id": 1, "task_uuid": uuid.UUID(int=1).hex, "content_type": 0, "size": 8,
                           "group_id": 1, **stamps}),
        ):  # fmt: skip
            conn.execute(sa.insert(sa.table(table, *map(sa.column, values))).values(**values))
    migrate.upgrade(fresh_db_url, "0009")
    with engine.begin() as conn:
        assert [tuple(r) for r in conn.execute(sa.text("SELECT attempt, current FROM artifacts"))] == [
            (0, True)
        ]
        conn.execute(
            sa.text(
                "INSERT INTO artifacts (id, task_uuid, content_type, size, group_id, attempt, current, "
                "created_at, updated_at) VALUES (2, :u, 0, 3, 1, 1, :f, :t, :t)"
            ),
            {"u": uuid.UUID(int=1).hex, "t": now, "f": False},
        )
    migrate.downgrade(fresh_db_url, "0008")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT id FROM artifacts")).scalars().all() == [1]
