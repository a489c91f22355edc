"""Campaigns benchmark (not a test), on PostgreSQL, services called in-process.

1. Creation: a campaign of N tasks (`create_campaign`: grid check, placeholders, N tasks through the
   lifecycle's Submit) against the reference, a plain batch submit of the same N tasks
   (`batch_submit_tasks`), measured in the same run.
2. Status: `campaign_status` of a campaign of C tasks (half of them committed) stored among M other tasks,
   against the reference, the same counts read by scanning the task tables (index scans turned off).
   The campaign's status must not grow with M.

    .venv/bin/python bench/campaigns.py [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--create 1000,100000] [--sizes 1000,100000] [--others 0,1000000] [--samples 30]

It creates (and drops) its own database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import TEST_JWT_SECRET  # noqa: E402


def p50_ms(run: Callable[[], object], samples: int) -> float:
    times = []
    for _ in range(samples):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


class Bench:
    def __init__(self, pg_url: str):
        from app.config import normalise_db_url

        self.name = f"mito_bench_campaigns_{os.getpid()}"
        self.admin_engine = sa.create_engine(normalise_db_url(pg_url), isolation_level="AUTOCOMMIT")
        with self.admin_engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        self.db_url = normalise_db_url(pg_url.rsplit("/", 1)[0] + "/" + self.name)
        from app import auth, create_app, db, migrate
        from app.services import user as user_service

        migrate.upgrade(self.db_url)
        self.app = create_app(
            {
                "DB_URL": self.db_url,
                "JWT_SECRET": TEST_JWT_SECRET,
                "CONFIG_FILE": "/none",
                "LIVENESS_MARKER": False,
            }
        )
        self.ctx = self.app.app_context()
        self.ctx.push()
        self.user = user_service.create_user(username="bench", md5_password=auth.md5_bytes("pw"))
        self.db = db
        self.autocommit = sa.create_engine(self.db_url, isolation_level="AUTOCOMMIT")

    def close(self) -> None:
        self.db.session.remove()
        self.ctx.pop()
        self.autocommit.dispose()
        from app.db import _engines

        for engine in _engines.values():
            engine.dispose()
        with self.admin_engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def sql(self, text: str, **params: object) -> None:
        with self.autocommit.connect() as conn:
            conn.execute(sa.text(text), params)

    def template(self) -> dict:
        spec = {"args": ["run", "--n", "{n}"], "envs": {}, "resources": [], "terminal_output": False}
        return {"tags": ["nobody"], "labels": [], "timeout": 60, "priority": 0, "task_spec": spec}

    def create_campaign(self, name: str, size: int) -> None:
        from app.services import campaign

        req = {"group_name": "bench", "name": name, "points": None, "repeat": 1, "task": self.template(),
               "parameters": [{"name": "n", "values": [str(i) for i in range(size)]}]}  # fmt: skip
        campaign.create_campaign(actor=self.user, req=req)

    def creation(self, sizes: list[int]) -> None:
        from app.services import task

        for size in sizes:
            t0 = time.perf_counter()
            self.create_campaign(f"create{size}", size)
            made = time.perf_counter() - t0
            items = [{**self.template(), "group_name": "bench"} for _ in range(size)]
            t0 = time.perf_counter()
            task.batch_submit_tasks(actor=self.user, items=list(items))
            batch = time.perf_counter() - t0
            print(
                f"create a campaign of {size:>7,} tasks: {made:6.2f} s ({size / made:,.0f} tasks/s); "
                f"reference batch submit of {size:,}: {batch:6.2f} s ({size / batch:,.0f} tasks/s); "
                f"ratio {made / batch:.2f}"
            )
            self.sql("DELETE FROM active_tasks; DELETE FROM task_buckets")

    def others(self, count: int) -> None:
        """`count` tasks of no campaign, half of them active (Ready) and half archived (bulk SQL)."""
        self.sql("DELETE FROM active_tasks WHERE campaign_id IS NULL")
        self.sql("DELETE FROM archived_tasks WHERE campaign_id IS NULL")
        common = """u.id, gr.id, 10000000 + g, gen_random_uuid(), ARRAY['x'], '{}', 60, 0,
                    '{"args": ["true"]}'::json, 0, now(), now()"""
        source = """FROM generate_series(1, :n) g, users u, groups gr
                    WHERE u.username = 'bench' AND gr.group_name = 'bench'"""
        columns = """creator_id, group_id, task_id, uuid, tags, labels, timeout, priority, spec, lost_count,
                     created_at, updated_at"""
        self.sql(
            f"""INSERT INTO active_tasks ({columns}, state, tags_key, attempt, cancel_requested)
                SELECT {common}, 1, '["x"]', 0, false {source}""",
            n=count // 2,
        )
        self.sql(
            f"""INSERT INTO archived_tasks (id, {columns}, state, exit_status, result)
                SELECT 50000000 + g, {common.replace("10000000 + g", "30000000 + g")}, 3, 0,
                       '{{"exit_status": 0}}'::json {source}""",
            n=count - count // 2,
        )

    def half_committed(self, name: str) -> None:
        """Move half the campaign's tasks to archived_tasks as committed (every 10th of those failed)."""
        self.sql(
            """WITH moved AS (
                   DELETE FROM active_tasks WHERE id IN (
                       SELECT t.id FROM active_tasks t JOIN campaigns c ON c.id = t.campaign_id
                       WHERE c.name = :name AND t.id % 2 = 0)
                   RETURNING *)
               INSERT INTO archived_tasks (id, creator_id, group_id, task_id, uuid, tags, labels, state,
                   timeout, priority, spec, lost_count, created_at, updated_at, campaign_id, params,
                   campaign_repeat,
                   exit_status, result)
               SELECT id, creator_id, group_id, task_id, uuid, tags, labels, 3, timeout, priority, spec,
                   lost_count, created_at, now(), campaign_id, params, campaign_repeat,
                   CASE WHEN id % 20 = 0 THEN 1 ELSE 0 END,
                   json_build_object('exit_status', CASE WHEN id % 20 = 0 THEN 1 ELSE 0 END)
               FROM moved""",
            name=name,
        )

    def status_of(self, name: str) -> object:
        from app.services import campaign

        return campaign.campaign_status(actor=self.user, group_name="bench", name=name)

    def status(self, sizes: list[int], others: list[int], samples: int) -> None:
        from app.services import campaign

        for size in sizes:
            self.create_campaign(f"status{size}", size)
            self.half_committed(f"status{size}")
        for other in others:
            self.others(other)
            self.sql("VACUUM ANALYZE active_tasks")
            self.sql("VACUUM ANALYZE archived_tasks")
            for size in sizes:
                name = f"status{size}"
                found = campaign.campaign_status(actor=self.user, group_name="bench", name=name)
                assert found.campaign.task_count == size and found.committed == size // 2, found
                ours = p50_ms(lambda n=name: self.status_of(n), samples)
                self.db.session.rollback()
                statement = campaign.status_counts(found.campaign)

                def scanned(stmt: sa.Executable = statement) -> None:
                    with self.db.session.get_bind().connect() as conn:
                        for kind in ("indexscan", "indexonlyscan", "bitmapscan"):
                            conn.exec_driver_sql(f"SET enable_{kind} = off")
                        conn.execute(stmt).all()

                reference = p50_ms(scanned, max(3, samples // 10))
                print(
                    f"status of a campaign of {size:>7,} tasks among {other:>9,} others: p50 {ours:7.2f} ms; "
                    f"reference (scan of every task) p50 {reference:8.2f} ms; ratio {reference / ours:,.0f}x"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("MITO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--create", default="1000,100000")
    parser.add_argument("--sizes", default="1000,100000")
    parser.add_argument("--others", default="0,1000000")
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    bench = Bench(args.pg_url)
    try:
        with bench.autocommit.connect() as conn:
            print(
                "PostgreSQL:",
                conn.exec_driver_sql("SHOW server_version").scalar(),
                f"; nproc {os.cpu_count()}",
            )
        bench.creation([int(x) for x in args.create.split(",")])
        bench.status(
            [int(x) for x in args.sizes.split(",")], [int(x) for x in args.others.split(",")], args.samples
        )
    finally:
        bench.close()


if __name__ == "__main__":
    main()
