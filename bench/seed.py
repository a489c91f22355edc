"""Scratch databases and bulk data for the benchmarks: SQL (generate_series), never the API.

`scratch_db` creates a PostgreSQL database, migrates it to head and drops it afterwards. `seed_tasks` stores
N tasks in one group in a handful of INSERT ... SELECT statements, with a spread that gives each query
filter something to find and something to skip:

- 9 in 10 tasks archived (Finished, 1 in 20 Cancelled; exit status 0, 1 in 50 exits 1), 1 in 10 active
  (Ready, Running, Pending, Finished), interleaved in time, so a page mixes both tables;
- 4 creators (`bench`, `bench1`..`bench3`), tags `k0`..`k6` (1 in 7 each), labels `l0`..`l96` (1 in 97
  each), priority 0..9.

`seed_buckets` stores (group, tag-set) bucket rows that hold no Ready task, as years of distinct tag sets
leave behind.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import sqlalchemy as sa

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
CREATORS = ("bench", "bench1", "bench2", "bench3")
GROUP = "bench"


@contextlib.contextmanager
def scratch_db(pg_url: str = DEFAULT_PG, tag: str = "bench") -> Iterator[str]:
    """A fresh PostgreSQL database migrated to head (its URL); dropped on exit."""
    from app import migrate
    from app.config import normalise_db_url

    name = f"mito_{tag}_{os.getpid()}"
    admin = sa.create_engine(normalise_db_url(pg_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = normalise_db_url(pg_url.rsplit("/", 1)[0] + "/" + name)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        from app.db import dispose_engines

        dispose_engines()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@contextlib.contextmanager
def kept_db(name: str, tasks: int, pg_url: str = DEFAULT_PG) -> Iterator[tuple[str, bool]]:
    """The database `mito_<name>` migrated to head, kept after the run (drop it yourself); its URL and
    whether it already holds `tasks` seeded tasks (then the caller skips the seeding). A database seeded
    with another number of tasks is dropped and made again."""
    from app import migrate
    from app.config import normalise_db_url

    db_name = f"mito_{name}"
    url = normalise_db_url(pg_url.rsplit("/", 1)[0] + "/" + db_name)
    admin = sa.create_engine(normalise_db_url(pg_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": db_name})
    seeded = False
    if exists:
        engine = sa.create_engine(url)
        try:
            with engine.connect() as conn:
                stmt = sa.text("SELECT task_count FROM groups WHERE group_name = :g")
                count = conn.scalar(stmt, {"g": GROUP})
            seeded = count == tasks
        except sa.exc.DBAPIError:
            seeded = False
        engine.dispose()
    if not seeded:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{db_name}"')
    admin.dispose()
    try:
        migrate.upgrade(url)  # a kept database follows the branch's migrations
        yield url, seeded
    finally:
        from app.db import dispose_engines

        dispose_engines()


def sql(engine: sa.Engine, text: str, **params: object) -> sa.CursorResult:
    with engine.begin() as conn:
        return conn.execute(sa.text(text), params)


def seed_group(engine: sa.Engine) -> int:
    """The users of CREATORS (members of the group) and the group `bench`; the group's id."""
    for name in CREATORS:
        sql(
            engine,
            """INSERT INTO users (username, encrypted_password, admin, state, group_quota, group_count,
                   created_at, updated_at) VALUES (:name, 'x', false, 0, 100, 0, now(), now())""",
            name=name,
        )
    group_id = sql(
        engine,
        """INSERT INTO groups (group_name, creator_id, state, task_count, storage_quota, storage_used,
               created_at, updated_at)
           SELECT :g, id, 0, 0, 1000000000, 0, now(), now() FROM users WHERE username = :g RETURNING id""",
        g=GROUP,
    ).scalar_one()
    sql(
        engine,
        """INSERT INTO user_group (user_id, group_id, role)
           SELECT id, :gid, CASE WHEN username = :g THEN 2 ELSE 0 END
           FROM users WHERE username LIKE 'bench%'""",
        gid=group_id,
        g=GROUP,
    )
    return group_id


_COMMON = """u.id, :gid, g, gen_random_uuid(), ARRAY['k' || (g % 7)], ARRAY['l' || (g % 97)], {state},
             60, (g / 100) % 10, '{{"args": ["true"]}}'::json, 0,
             now() - ((:n - g) || ' seconds')::interval, now()"""
_FROM = """FROM generate_series(1, :n) g
           JOIN users u ON u.username = (ARRAY['bench', 'bench1', 'bench2', 'bench3'])[1 + (g / 7) % 4]"""


def seed_tasks(engine: sa.Engine, group_id: int, n: int) -> None:
    """Store `n` tasks in the group (see the module docstring), ids and created_at rising together."""
    states = "(ARRAY[1, 2, 0, 0, 1, 1, 3, 1, 1, 0])[1 + (g / 10) % 10]"  # Ready, Running, Pending, Finished
    sql(
        engine,
        f"""INSERT INTO active_tasks (id, creator_id, group_id, task_id, uuid, tags, labels, state, timeout,
                priority, spec, lost_count, created_at, updated_at, tags_key, attempt, cancel_requested)
            SELECT g, {_COMMON.format(state=states)}, '["k' || (g % 7) || '"]', 0, false
            {_FROM} WHERE g % 10 = 3""",
        gid=group_id,
        n=n,
    )
    archived_state = "CASE WHEN g % 20 = 1 THEN 4 ELSE 3 END"  # Cancelled, Finished
    sql(
        engine,
        f"""INSERT INTO archived_tasks (id, creator_id, group_id, task_id, uuid, tags, labels, state,
                timeout, priority, spec, lost_count, created_at, updated_at, exit_status, result)
            SELECT g, {_COMMON.format(state=archived_state)},
                CASE WHEN g % 50 = 7 THEN 1 ELSE 0 END,
                json_build_object('exit_status', CASE WHEN g % 50 = 7 THEN 1 ELSE 0 END, 'msg', NULL)
            {_FROM} WHERE g % 10 <> 3""",
        gid=group_id,
        n=n,
    )
    sql(engine, "SELECT setval('active_tasks_id_seq', :n)", n=n)
    sql(
        engine,
        """INSERT INTO task_counts (group_id, state, shard, count)
           SELECT group_id, state, 0, count(*) FROM (
               SELECT group_id, state FROM active_tasks UNION ALL SELECT group_id, state FROM archived_tasks
           ) AS t GROUP BY group_id, state""",
    )
    sql(engine, "UPDATE groups SET task_count = :n WHERE id = :gid", n=n, gid=group_id)
    sql(
        engine,
        """INSERT INTO task_buckets (group_id, tags_key, tags, created_at)
           SELECT DISTINCT group_id, tags_key, tags, now() FROM active_tasks WHERE state = 1
           ON CONFLICT DO NOTHING""",
    )
    analyze(engine)


def seed_buckets(engine: sa.Engine, group_id: int, n: int) -> None:
    """`n` buckets of distinct tag sets with no Ready task in them."""
    sql(
        engine,
        """INSERT INTO task_buckets (group_id, tags_key, tags, created_at)
           SELECT :gid, '["gone' || g || '"]', ARRAY['gone' || g], now() FROM generate_series(1, :n) g""",
        gid=group_id,
        n=n,
    )
    analyze(engine)


def analyze(engine: sa.Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in ("active_tasks", "archived_tasks", "task_buckets"):
            conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
