"""Metrics scrape benchmark (not a test): GET /metrics of a real coordinator on PostgreSQL, 1k vs 1M tasks.

Bulk-inserts tasks with SQL (half archived Finished, the rest Ready, Running and Pending, over 20 groups),
brings task_counts up to date the way the migration does, and times GET /metrics over HTTP at each size.
The reference, measured in the same run on the same data, is what a scrape would cost without the
counters: one grouped count over every stored task. The scrape must not grow with the tasks stored.
`db part` is the scrape's database work alone (the collector run in this process), which is what could
grow with the data; the rest of a scrape is Python and HTTP. The load average is printed because the
machine may be shared: compare the rows of one run, not numbers across runs.

    .venv/bin/python -m bench.metrics_scrape [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--sizes 1000,1000000] [--scrapes 30]

It creates (and drops) its own database.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import timed_ms as timed  # noqa: E402
from tests.helpers import LiveCoordinator  # noqa: E402

GROUPS = 20
NAIVE = """SELECT group_id, state, count(*) FROM (
             SELECT group_id, state FROM active_tasks UNION ALL SELECT group_id, state FROM archived_tasks
           ) AS t GROUP BY group_id, state"""


class Bench:
    def __init__(self, pg_url: str, folder: Path):
        from app import migrate
        from app.config import normalise_db_url

        self.name = f"mito_bench_metrics_{os.getpid()}"
        self.admin = sa.create_engine(normalise_db_url(pg_url), isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        self.db_url = normalise_db_url(pg_url.rsplit("/", 1)[0] + "/" + self.name)
        migrate.upgrade(self.db_url)
        self.engine = sa.create_engine(self.db_url, isolation_level="AUTOCOMMIT")
        self.coordinator = LiveCoordinator(self.db_url, folder).start()
        from app import create_app

        settings = {"DB_URL": self.db_url, "JWT_SECRET": "bench", "CONFIG_FILE": "/none"}
        self.app = create_app({**settings, "BOOTSTRAP_ADMIN": False, "TESTING": True, "SHUTDOWN_SECRET": "-"})
        self.http = httpx.Client(base_url=self.coordinator.url, timeout=120)
        self.stored = 0
        self._groups()

    def sql(self, text: str, **params):
        with self.engine.connect() as conn:
            return conn.execute(sa.text(text), params)

    def _groups(self) -> None:
        self.sql("INSERT INTO users (username, encrypted_password, admin, state, group_quota, group_count, "
                 "created_at, updated_at) VALUES ('bench', 'x', false, 0, 100, 0, now(), now())")  # fmt: skip
        self.sql(
            """INSERT INTO groups (group_name, creator_id, state, task_count, storage_quota, storage_used,
                   created_at, updated_at)
               SELECT 'bench-' || g, u.id, 0, 0, 1000000000, 0, now(), now()
               FROM generate_series(1, :n) g, users u WHERE u.username = 'bench'""",
            n=GROUPS,
        )  # fmt: skip

    def fill(self, total: int) -> None:
        """Store tasks until there are `total`: half archived (Finished), the rest active in three states."""
        n = total - self.stored
        archived, active = n // 2, n - n // 2
        rows = """FROM generate_series(1, :n) g, users u,
                       LATERAL (SELECT id FROM groups WHERE group_name = 'bench-' || (1 + g % :groups)) gr
                  WHERE u.username = 'bench'"""
        self.sql(
            """INSERT INTO archived_tasks (id, creator_id, group_id, task_id, uuid, tags, labels, state,
                   timeout, priority, spec, lost_count, created_at, updated_at)
               SELECT nextval('active_tasks_id_seq'), u.id, gr.id, :base + g, gen_random_uuid(), '{}', '{}',
                   3, 60, 0, '{"args": ["true"]}'::json, 0, now() - (g || ' seconds')::interval, now() """
            + rows,
            base=self.stored, n=archived, groups=GROUPS,
        )  # fmt: skip
        self.sql(
            """INSERT INTO active_tasks (creator_id, group_id, task_id, uuid, tags, labels, state, timeout,
                   priority, spec, lost_count, created_at, updated_at, tags_key, attempt, cancel_requested)
               SELECT u.id, gr.id, :base + g, gen_random_uuid(), '{}', '{}', (ARRAY[0, 1, 1, 2])[1 + g % 4],
                   60, 0, '{"args": ["true"]}'::json, 0, now() - (g || ' seconds')::interval, now(), '[]', 0,
                   false """
            + rows,
            base=self.stored + archived, n=active, groups=GROUPS,
        )  # fmt: skip
        # What the lifecycle keeps up to date task by task, here in one statement (as the migration does).
        self.sql("DELETE FROM task_counts")
        self.sql(
            "INSERT INTO task_counts (group_id, state, shard, count) "
            f"SELECT g, s, 0, c FROM ({NAIVE}) AS n(g, s, c)"
        )
        self.sql("VACUUM ANALYZE active_tasks")
        self.sql("VACUUM ANALYZE archived_tasks")
        self.stored = total

    def scrape(self) -> None:
        resp = self.http.get("/metrics")
        assert resp.status_code == 200 and "mitosis_tasks" in resp.text, resp.text[:200]

    def naive(self) -> None:
        self.sql(NAIVE).all()

    def collect(self) -> None:
        from app import db
        from app.services.metrics import DatabaseCollector

        with self.app.app_context():
            assert list(DatabaseCollector().collect())
            db.session.remove()

    def close(self) -> None:
        self.http.close()
        self.coordinator.stop()
        self.engine.dispose()
        from app.db import dispose_engines

        dispose_engines()
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--scrapes", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        bench = Bench(args.pg_url, Path(folder))
        try:
            print(f"{'tasks':>9}  {'scrape p50':>10}  {'scrape min':>10}  {'db part':>8}  {'reference':>9}"
                  f"  {'ref/scrape':>10}  load")  # fmt: skip
            for size in (int(s) for s in args.sizes.split(",")):
                bench.fill(size)
                bench.scrape()  # warm up the connection and the caches
                bench.collect()
                scrape = timed(bench.scrape, args.scrapes)
                db_part = statistics.median(timed(bench.collect, args.scrapes))
                reference = statistics.median(timed(bench.naive, max(3, args.scrapes // 10)))
                p50, load = statistics.median(scrape), os.getloadavg()[0]
                print(f"{size:>9}  {p50:>8.1f}ms  {min(scrape):>8.1f}ms  {db_part:>6.1f}ms"
                      f"  {reference:>7.1f}ms  {reference / p50:>9.1f}x  {load:.1f}")  # fmt: skip
        finally:
            bench.close()


if __name__ == "__main__":
    main()
