"""Dispatch benchmark (not a test): a coordinator under gunicorn on PostgreSQL, driven over HTTP.

Prints the batch submit rate, the claim+commit rate with 1, 8 and 32 simulated workers (tasks/s, p50/p99
of the claim request and of the whole fetch+Finish+Commit cycle), and the claim and empty-poll latency with
1k, 100k and 1M Ready tasks queued that do NOT match the measuring worker (bulk-inserted with SQL), plus
the EXPLAIN (ANALYZE) of the claim queries at the largest queue.

    .venv/bin/python bench/dispatch.py [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--processes N] [--queues 1000,100000,1000000] [--submit 5000]

It creates (and drops) its own database.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import TEST_JWT_SECRET, LiveCoordinator  # noqa: E402

SUBMIT_BATCH = 500  # tasks per POST /tasks/submit in Bench.submit_rate


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


class Bench:
    def __init__(self, pg_url: str, processes: int, data_dir: Path):
        from app.config import normalise_db_url

        self.name = f"mito_bench_{os.getpid()}"
        self.admin = sa.create_engine(normalise_db_url(pg_url), isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        self.db_url = normalise_db_url(pg_url.rsplit("/", 1)[0] + "/" + self.name)
        from app import create_app, migrate

        migrate.upgrade(self.db_url)
        self.app = create_app(  # no liveness marker: it would write to the database once dropped
            {
                "DB_URL": self.db_url,
                "JWT_SECRET": TEST_JWT_SECRET,
                "CONFIG_FILE": "/none",
                "LIVENESS_MARKER": False,
            }
        )
        self.engine = sa.create_engine(self.db_url)
        self.autocommit = sa.create_engine(self.db_url, isolation_level="AUTOCOMMIT")
        self.coordinator = LiveCoordinator(self.db_url, data_dir, processes=processes).start()
        self.http = httpx.Client(base_url=self.coordinator.url, timeout=120)
        self.user_headers = self._user("bench")

    def close(self) -> None:
        self.http.close()
        self.coordinator.stop()
        self.engine.dispose()
        self.autocommit.dispose()
        from app.db import _engines

        for engine in _engines.values():
            engine.dispose()
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def _user(self, name: str) -> dict[str, str]:
        from app import auth
        from app.services import user as user_service

        with self.app.app_context():
            user = user_service.create_user(username=name, md5_password=auth.md5_bytes("pw"))
            return {"Authorization": f"Bearer {auth.issue_user_token(user)}"}

    def worker(self, tags: list[str]) -> dict[str, str]:
        resp = self.http.post("/workers", json={"tags": tags, "groups": []}, headers=self.user_headers)
        resp.raise_for_status()
        return {"Authorization": f"Bearer {resp.json()['token']}"}

    def sql(self, text: str, **params):
        with self.engine.begin() as conn:
            return conn.execute(sa.text(text), params)

    def vacuum(self) -> None:
        with self.autocommit.connect() as conn:
            conn.exec_driver_sql("VACUUM ANALYZE active_tasks")
            conn.exec_driver_sql("VACUUM ANALYZE task_buckets")

    def clear_tasks(self) -> None:
        self.sql("DELETE FROM active_tasks; DELETE FROM archived_tasks; DELETE FROM task_buckets")
        self.sql("UPDATE workers SET assigned_task_id = NULL")

    def queue(self, count: int, tags_expr: str, key_expr: str, priority: int) -> None:
        """Bulk-insert Ready tasks of the bench group; tags/key are SQL expressions of g (1..count)."""
        base = self.sql("SELECT task_count FROM groups WHERE group_name = 'bench'").scalar()
        self.sql(
            f"""INSERT INTO active_tasks (creator_id, group_id, task_id, uuid, tags, labels, tags_key, state,
                    timeout, priority, spec, lost_count, attempt, cancel_requested, created_at, updated_at)
                SELECT u.id, gr.id, :base + g, gen_random_uuid(), {tags_expr}, '{{}}', {key_expr}, 1, 60,
                    :prio,
                    '{{"args": ["true"]}}'::json, 0, 0, false, now(), now()
                FROM generate_series(1, :n) g, users u, groups gr
                WHERE u.username = 'bench' AND gr.group_name = 'bench'""",
            base=base, n=count, prio=priority,
        )  # fmt: skip
        self.sql(
            """INSERT INTO task_buckets (group_id, tags_key, tags, created_at)
               SELECT DISTINCT group_id, tags_key, tags, now() FROM active_tasks WHERE state = 1
               ON CONFLICT DO NOTHING"""
        )
        self.sql("UPDATE groups SET task_count = task_count + :n WHERE group_name = 'bench'", n=count)

    def cycles(self, workers: list[dict], stop_after: float, limit: int | None = None):
        """Each worker fetches, finishes and commits until the queue is empty, time is up or limit reached."""
        claims: list[float] = []
        cycles: list[float] = []
        done = [0]
        lock = threading.Lock()
        deadline = time.monotonic() + stop_after

        def run(headers):
            with httpx.Client(base_url=self.coordinator.url, headers=headers, timeout=120) as http:
                while time.monotonic() < deadline:
                    with lock:
                        if limit is not None and done[0] >= limit:
                            return
                    t0 = time.perf_counter()
                    resp = http.get("/workers/tasks")
                    t1 = time.perf_counter()
                    if resp.status_code == 204:
                        return
                    resp.raise_for_status()
                    task_id = resp.json()["id"]
                    http.post("/workers/tasks", json={"id": task_id, "op": "Finish"}).raise_for_status()
                    commit = {"id": task_id, "op": {"Commit": {"exit_status": 0, "msg": None}}}
                    http.post("/workers/tasks", json=commit).raise_for_status()
                    t2 = time.perf_counter()
                    with lock:
                        claims.append(t1 - t0)
                        cycles.append(t2 - t0)
                        done[0] += 1

        start = time.perf_counter()
        threads = [threading.Thread(target=run, args=(h,)) for h in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return done[0], time.perf_counter() - start, claims, cycles

    # ------------------------------------------------------------ the measurements

    def submit_rate(self, total: int) -> float:
        """Tasks/s of `total` tasks batch-submitted (nobody claims them: the tag `nobody`), deleted after."""
        batch = SUBMIT_BATCH
        item = {"group_name": "bench", "tags": ["nobody"], "labels": [], "timeout": "1m", "priority": 0,
                "task_spec": {"args": ["true"]}}  # fmt: skip
        start = time.perf_counter()
        for _ in range(0, total, batch):
            resp = self.http.post("/tasks/submit", json={"tasks": [item] * batch}, headers=self.user_headers)
            resp.raise_for_status()
            assert all("Ok" in r for r in resp.json()["results"])
        elapsed = time.perf_counter() - start
        print(f"batch submit: {total} tasks in batches of {batch}: {total / elapsed:,.0f} tasks/s")
        self.clear_tasks()
        return total / elapsed

    def claim_rate(self, counts: list[int], per_run: int) -> None:
        for n in counts:
            self.clear_tasks()
            self.queue(per_run, "ARRAY['w']::text[]", "'[\"w\"]'", 0)
            self.vacuum()
            workers = [self.worker(["w"]) for _ in range(n)]
            done, elapsed, claims, cycles = self.cycles(workers, stop_after=20)
            print(
                f"claim+commit, {n:>2} workers: {done / elapsed:,.0f} tasks/s; "
                f"claim p50 {pct(claims, 0.5):.1f} ms p99 {pct(claims, 0.99):.1f} ms; "
                f"cycle p50 {pct(cycles, 0.5):.1f} ms p99 {pct(cycles, 0.99):.1f} ms"
            )

    def queued_latency(self, sizes: list[int], samples: int) -> None:
        measuring = self.worker(["mine"])
        idle = self.worker(["none"])
        for size in sizes:
            self.clear_tasks()
            # Non-matching tasks, higher priority than the matching ones, spread over ten tag sets.
            self.queue(size, "ARRAY['other' || (g % 10)]::text[]", "'[\"other' || (g % 10) || '\"]'", 10)
            self.queue(samples, "ARRAY['mine']::text[]", "'[\"mine\"]'", 0)
            self.vacuum()
            done, _, claims, _ = self.cycles([measuring], stop_after=120, limit=samples)
            polls = []
            with httpx.Client(base_url=self.coordinator.url, headers=idle, timeout=60) as http:
                for _ in range(samples):
                    t0 = time.perf_counter()
                    assert http.get("/workers/tasks").status_code == 204
                    polls.append(time.perf_counter() - t0)
            print(
                f"{size:>9,} non-matching Ready tasks queued: claim p50 {pct(claims, 0.5):.1f} ms "
                f"p99 {pct(claims, 0.99):.1f} ms ({done} claims); empty poll p50 {pct(polls, 0.5):.1f} ms "
                f"p99 {pct(polls, 0.99):.1f} ms"
            )
        self.explain()

    def explain(self) -> None:
        """EXPLAIN (ANALYZE) of the claim queries as dispatch.fetch_task issues them, at the current queue."""
        self.queue(2, "ARRAY['mine']::text[]", "'[\"mine\"]'", 0)
        self.vacuum()
        from app import db
        from app.models import Worker
        from app.services import dispatch

        captured: list[tuple[str, dict]] = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            if "active_tasks" in statement or "task_buckets" in statement:
                captured.append((statement, parameters))

        with self.app.app_context():
            engine = db.session.get_bind()
            sa.event.listen(engine, "before_cursor_execute", capture)
            try:
                worker = db.session.scalar(sa.select(Worker).where(Worker.tags == ["mine"]))
                worker.assigned_task_id = None
                db.session.commit()
                task = dispatch.fetch_task(worker=worker)
                assert task is not None
            finally:
                sa.event.remove(engine, "before_cursor_execute", capture)
            with engine.connect() as conn:
                conn.exec_driver_sql("BEGIN")
                for statement, params in captured:
                    if not statement.lstrip().upper().startswith("SELECT"):
                        continue
                    print("\n" + statement.strip())
                    rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).all()
                    print("\n".join("    " + r[0] for r in rows))
                conn.exec_driver_sql("ROLLBACK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("MITO_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    )
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--submit", type=int, default=5000)
    parser.add_argument("--queues", default="1000,100000,1000000")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        bench = Bench(args.pg_url, args.processes, Path(tmp))
        try:
            with bench.engine.connect() as conn:
                print("PostgreSQL:", conn.exec_driver_sql("SHOW server_version").scalar())
            print(f"coordinator: gunicorn, {args.processes} processes x 8 threads; nproc {os.cpu_count()}")
            bench.submit_rate(args.submit)
            bench.claim_rate([1, 8, 32], per_run=20000)
            bench.queued_latency([int(x) for x in args.queues.split(",")], args.samples)
        finally:
            bench.close()


if __name__ == "__main__":
    main()
