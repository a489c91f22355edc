"""Where one chained commit (POST /workers/tasks/batch: Finish, Commit, next) spends the coordinator's CPU,
in this process (no HTTP server): the Flask test client drives the whole request on a scratch PostgreSQL
database; prints the process CPU per request (alternated rounds), that of the PostgreSQL backend that
served it, the statements one request sends and, with --profile, cProfile's top functions.

    .venv/bin/python -m bench.cycle_profile [--requests 300] [--rounds 3] [--profile] [--echo] [--heartbeat]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from bench.common import cpu_seconds
from tests.helpers import TEST_JWT_SECRET

PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _setup(db_url: str, tasks: int) -> tuple[Any, dict[str, str]]:
    from app import auth, create_app, migrate
    from app.services import user as user_service

    migrate.upgrade(db_url)
    # No liveness marker: its thread would count in the CPU measured, and write to the database once dropped.
    app = create_app(
        {"DB_URL": db_url, "JWT_SECRET": TEST_JWT_SECRET, "CONFIG_FILE": "/none", "LIVENESS_MARKER": False}
    )
    with app.app_context():
        user = user_service.create_user(username="bench", md5_password=auth.md5_bytes("pw"))
        headers = {"Authorization": f"Bearer {auth.issue_user_token(user)}"}
    client = app.test_client()
    resp = client.post("/workers", json={"tags": [], "groups": []}, headers=headers)
    worker = {"Authorization": f"Bearer {resp.get_json()['token']}"}
    body = {"group_name": "bench", "task_spec": {"args": ["true"]}}
    first = client.post("/tasks", json=body, headers=headers)
    assert first.status_code == 200, first.text
    with sa.create_engine(db_url).begin() as conn:  # the rest as the first, in SQL (same bucket)
        conn.execute(
            sa.text(
                """INSERT INTO active_tasks (creator_id, group_id, task_id, uuid, tags, labels, tags_key,
                       state, timeout, priority, spec, lost_count, attempt, cancel_requested, created_at,
                       updated_at)
                   SELECT creator_id, group_id, task_id + g, gen_random_uuid(), tags, labels, tags_key, state,
                       timeout, priority, spec, 0, 0, false, created_at, updated_at
                   FROM active_tasks, generate_series(1, :n) g"""
            ),
            {"n": tasks},
        )
    return app, worker


def _plans(app: Any, sent: list[tuple[str, Any]], *, verbose: bool) -> None:
    """The server's planning and execution time of each statement, replayed in a rolled-back transaction."""
    from app import db

    with app.app_context(), db.session.get_bind().connect() as conn, conn.begin() as tx:
        for statement, params in sent:
            if verbose:
                plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, SUMMARY) " + statement, params)
                print("\n".join(row[0] for row in plan))
                continue
            found = conn.exec_driver_sql(
                "EXPLAIN (ANALYZE, SUMMARY, FORMAT JSON) " + statement, params
            ).scalar()
            top = (found if isinstance(found, list) else json.loads(found))[0]
            times = f"planning {top['Planning Time']:.3f} ms, execution {top['Execution Time']:.3f} ms"
            print(f"   {times}: {' '.join(statement.split())[:60]}")
        tx.rollback()


@contextmanager
def scratch_coordinator(prefix: str, tasks: int) -> Iterator[tuple[Any, dict[str, str]]]:
    """The app on a scratch PostgreSQL database `{prefix}_{pid}` holding `tasks` Ready tasks, and a worker's
    headers; the database is dropped after."""
    from app.config import normalise_db_url

    name = f"{prefix}_{os.getpid()}"
    admin = sa.create_engine(normalise_db_url(PG_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield _setup(normalise_db_url(PG_URL.rsplit("/", 1)[0] + "/" + name), tasks)
    finally:
        from app.db import _engines

        for engine in _engines.values():
            engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def heartbeat(app: Any, worker: dict[str, str]) -> Callable[[], None]:
    """One heartbeat per call (`--heartbeat`)."""
    client = app.test_client()

    def beat() -> None:
        resp = client.post("/workers/heartbeat", headers=worker)
        assert resp.status_code == 200, resp.text

    return beat


def chained_commit(app: Any, worker: dict[str, str], exec_states: bool = False) -> Callable[[], None]:
    """One chained commit per call (Finish, Commit, next) of the task the previous one claimed.

    `exec_states`: a no-op task's batch from `mito worker` (worker_agent/steps.py): the states up to its
    end, Finish, the upload's state, Commit.
    """
    client = app.test_client()
    task = client.get("/workers/tasks", headers=worker).get_json()
    names = ["FetchResource", "ExecPending", "ExecSpawned", "ExecFinished", "UploadResult"]
    states = [{"ExecState": n} for n in names] if exec_states else []
    after = [{"ExecState": "UploadFinishedResult"}] if exec_states else []

    def cycle() -> None:
        nonlocal task
        ops = [*states, "Finish", *after, {"Commit": {"exit_status": 0, "msg": None}}]
        body = {"id": task["id"], "ops": ops, "next": True, "attempt": task["attempt"]}
        resp = client.post("/workers/tasks/batch", json=body, headers=worker)
        assert resp.status_code == 200, resp.text
        task = resp.get_json()["next"]

    return cycle


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--echo", action="store_true", help="log one request's statements (cache hits)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument(
        "--exec-states", action="store_true", help="the batch a real agent sends: its exec states too"
    )
    parser.add_argument(
        "--plans",
        action="count",
        default=0,
        help="each statement's planning and execution time (twice: plans)",
    )
    parser.add_argument("--cpu", action="store_true", help="profile on process CPU time, not wall clock")
    parser.add_argument(
        "--heartbeat", action="store_true", help="a heartbeat per request, not a chained commit"
    )
    args = parser.parse_args(argv)
    with scratch_coordinator("mito_cycles", args.requests * (args.rounds + 1) + 500) as (app, worker):
        cycle = heartbeat(app, worker) if args.heartbeat else chained_commit(app, worker, args.exec_states)
        what = "heartbeat" if args.heartbeat else "chained commit"
        count, texts = [0], []
        sent: list[tuple[str, Any]] = []

        def counter(_c: Any, _cur: Any, statement: str, params: Any, *_a: Any) -> None:
            count[0] += 1
            texts.append(statement)
            sent.append((statement, params))

        for _ in range(20):
            cycle()
        sa.event.listen(sa.Engine, "before_cursor_execute", counter)
        if args.echo:  # SQLAlchemy's log: "[cached since ...]" (compile cache hit) or "[generated in ...]"
            logging.basicConfig()
            logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)
        cycle()
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
        sa.event.remove(sa.Engine, "before_cursor_execute", counter)
        print(f"statements per {what}: {count[0]}")
        for text in texts:
            print("  ", " ".join(text.split())[:200])
        if args.plans:
            _plans(app, sent, verbose=args.plans > 1)
        backends: set[int] = set()  # the PostgreSQL backends serving the requests (their CPU, read in /proc)

        def backend(conn: Any, *_a: Any) -> None:
            backends.add(conn.connection.dbapi_connection.get_backend_pid())

        sa.event.listen(sa.Engine, "before_cursor_execute", backend)
        cycle()
        cpu, database = [], []
        for _ in range(args.rounds):
            start, served = time.process_time(), {pid: cpu_seconds(pid) for pid in backends}
            for _ in range(args.requests):
                cycle()
            cpu.append((time.process_time() - start) * 1000 / args.requests)
            database.append(sum(cpu_seconds(p) - s for p, s in served.items()) * 1000 / args.requests)
        sa.event.remove(sa.Engine, "before_cursor_execute", backend)
        print(f"CPU per {what} (ms): " + ", ".join(f"{c:.2f}" for c in cpu))
        print(f"PostgreSQL backend CPU per {what} (ms): " + ", ".join(f"{c:.2f}" for c in database))
        if args.profile:
            profiler = cProfile.Profile(time.process_time) if args.cpu else cProfile.Profile()
            profiler.enable()
            for _ in range(args.requests):
                cycle()
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(args.top)
            stats.sort_stats("tottime").print_stats(args.top)
            print(out.getvalue())


if __name__ == "__main__":
    main()
