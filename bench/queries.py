"""Task queries at a million stored tasks (issue 13 goal 3): first pages, deep pages, count, memory.

A `mito coordinator --workers 2` on its own PostgreSQL database holding N tasks bulk-inserted with SQL
(bench/seed.py: 9 in 10 archived, interleaved with active ones). Each query goes over HTTP, warm, and its
p50 is printed, with the same query's service call in this process (`service`) and that call's time in
its SQL statements (`sql`, round trips included), the statements' execution time in the server (`exec`:
each replayed with EXPLAIN ANALYZE), and the reference measured in the same run: one single-row read by
primary key. The coordinator's workers' RSS is read before and after the queries, including full pages
(no `limit`: QUERY_LIMIT_MAX tasks each). `stmts` counts the statements one request sends (token lookup
included).

    .venv/bin/python -m bench queries [--tasks 1000000] [--repeat 30] [--keep NAME] [--profile]

`--keep NAME` seeds the database `mito_NAME` once and keeps it: a later run with the same NAME and
--tasks reuses it (migrated to head first) and skips the seeding (minutes at 1M on a shared host).
Drop it when done: `psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE "mito_NAME"'`. `--profile` runs
each query's request in this process under cProfile (Flask test client, no coordinator) and prints its
statements and top functions instead of the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

from bench import query_profile, seed
from bench.common import Figure, children, p50, rss_mb, started, statement_ms, timed_ms
from tests.helpers import TEST_JWT_SECRET, LiveCoordinator

FIRST_PAGE_MS = 10.0
COUNT_MS = 50.0
RSS_PER_WORKER_MB = 150.0

# name -> the TasksQueryReq body (group_name added); the first page of 10 unless it says otherwise
QUERIES: dict[str, dict[str, Any]] = {
    "newest 10": {},
    "state Ready": {"states": ["Ready"]},
    "states Running+Cancelled": {"states": ["Running", "Cancelled"]},
    "tag k3": {"tags": ["k3"]},
    "label l42": {"labels": ["l42"]},
    "priority >=9": {"priority": ">=9"},
    "creator bench2": {"creator_usernames": ["bench2"]},
    "exit status !=0": {"exit_status": "!=0"},
}
DEEP = {"offset 100k": {"offset": 100_000}}


def _token(db_url: str) -> dict[str, str]:
    from app import auth, create_app, db
    from app.models import User

    app = create_app(  # no liveness marker: it would write to the database once dropped
        {"DB_URL": db_url, "JWT_SECRET": TEST_JWT_SECRET, "CONFIG_FILE": "/none", "LIVENESS_MARKER": False}
    )
    with app.app_context():
        user = db.session.scalars(sa.select(User).where(User.username == seed.GROUP)).one()
        token = auth.issue_user_token(user)
        db.session.remove()
    return {"Authorization": f"Bearer {token}"}


def _db_part(db_url: str, body: dict[str, Any], repeat: int) -> tuple[float, float, float]:
    """p50 of the query service alone in this process, of its time in SQL (statements' round trips), and
    of its statements' execution time in the server (EXPLAIN ANALYZE)."""
    from app import create_app, db
    from app.models import TaskState, User
    from app.services import task_query

    app = create_app(  # no liveness marker: it would write to the database once dropped
        {"DB_URL": db_url, "JWT_SECRET": TEST_JWT_SECRET, "CONFIG_FILE": "/none", "LIVENESS_MARKER": False}
    )
    spent = [0.0]

    def before(conn: Any, *args: Any) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    statements: list[tuple[str, Any]] = []

    def after(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        spent[0] += time.perf_counter() - conn.info.pop("bench_t0")
        statements.append((statement, params))

    engine = db.get_engine(db_url)
    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    sql_times = []
    with app.app_context():
        actor = db.session.scalars(sa.select(User).where(User.username == seed.GROUP)).one()
        filters = {"group_name": seed.GROUP, "limit": 10, **body}
        if "states" in body:  # as the request schema loads them
            filters["states"] = [TaskState[name] for name in body["states"]]

        def run() -> None:
            spent[0] = 0.0
            statements.clear()
            task_query.query_tasks(actor=actor, filters=filters)
            db.session.rollback()
            sql_times.append(spent[0] * 1000)

        run()
        sql_times.clear()
        value = p50(timed_ms(run, repeat))
        db.session.remove()
    sa.event.remove(engine, "before_cursor_execute", before)
    sa.event.remove(engine, "after_cursor_execute", after)
    with engine.connect() as conn:
        executed = p50([statement_ms(conn, statements) for _ in range(max(3, repeat // 3))])
    return value, p50(sql_times), executed


def run(
    tasks: int = 1_000_000, repeat: int = 30, keep: str | None = None, profile: bool = False
) -> list[Figure]:
    """Seed (or reuse a kept database), start a coordinator, measure; the figures of goal 3."""
    figures: list[Figure] = []
    database = seed.kept_db(keep, tasks) if keep else _fresh(seed.scratch_db(tag="bench_queries"))
    with database as (db_url, seeded), tempfile.TemporaryDirectory() as folder:
        engine = sa.create_engine(db_url)
        if seeded:
            print(f"queries: reusing the {tasks:,} tasks of the kept database", flush=True)
        else:
            print(f"queries: storing {tasks:,} tasks with SQL ...", flush=True)
            seed.seed_tasks(engine, seed.seed_group(engine), tasks)
        headers = _token(db_url)
        if profile:
            for body in [*QUERIES.values(), {"count": True, "tags": ["k3"]}]:
                page = {"group_name": seed.GROUP, "limit": 10, **body}
                print(query_profile.profile(db_url, headers, page, repeat), flush=True)
            return []
        coordinator = started(LiveCoordinator(db_url, Path(folder), processes=2))
        try:
            figures = _measure(coordinator, engine, db_url, headers, repeat)
        finally:
            coordinator.stop()
            engine.dispose()
    return figures


@contextlib.contextmanager
def _fresh(scratch: contextlib.AbstractContextManager[str]) -> Iterator[tuple[str, bool]]:
    with scratch as url:
        yield url, False


def _measure(
    coordinator: LiveCoordinator, engine: sa.Engine, db_url: str, headers: dict[str, str], repeat: int
) -> list[Figure]:
    assert coordinator.proc is not None
    workers = children(coordinator.proc.pid)
    figures = []
    with (
        httpx.Client(base_url=coordinator.url, headers=headers, timeout=300) as http,
        engine.connect() as conn,
    ):

        def query(body: dict[str, Any]) -> dict[str, Any]:
            resp = http.post("/tasks/query", json={"group_name": seed.GROUP, **body})
            resp.raise_for_status()
            return resp.json()

        def reference() -> None:
            conn.execute(sa.text("SELECT * FROM archived_tasks WHERE id = 424242")).all()

        for _ in range(3 * len(workers)):
            query({"limit": 10})  # warm every worker's connections
        rss_before = max(rss_mb(pid) for pid in workers)
        ref = p50(timed_ms(reference, repeat))
        # What the HTTP p50s carry of their own: a round trip through the same client to a route that reads
        # nothing (GET /health: no Redis configured here), httpx's CPU in this process included.
        bare = p50(timed_ms(lambda: http.get("/health").raise_for_status(), repeat))
        print(f"an HTTP round trip to GET /health through the same client: p50 {bare:.1f} ms", flush=True)
        head = f"{'query':<26} {'http p50':>9} {'service':>8} {'sql':>7} {'exec':>7} {'rows':>5} {'stmts':>5}"
        print(head, flush=True)
        worst, worst_exec = 0.0, 0.0
        for name, body in {**QUERIES, **DEEP}.items():
            page = {"limit": 10, **body}
            rows = len(query(page)["tasks"])
            http_p50 = p50(timed_ms(lambda page=page: query(page), repeat))
            service_p50, sql_p50, exec_p50 = _db_part(db_url, body, repeat)
            stmts = query_profile.statements_per_request(db_url, headers, {"group_name": seed.GROUP, **page})
            if name in QUERIES:
                worst, worst_exec = max(worst, http_p50), max(worst_exec, exec_p50)
            times = f"{http_p50:>7.1f}ms {service_p50:>6.1f}ms {sql_p50:>5.1f}ms {exec_p50:>5.2f}ms"
            print(f"{name:<26} {times} {rows:>5} {stmts:>5}", flush=True)
        note = (
            f"<= {FIRST_PAGE_MS:g} ms; statements execute in {worst_exec:.2f} ms; reference: 1-row read; "
            f"GET /health {bare:.1f} ms"
        )
        figures.append(
            Figure("3: query first page, worst filter p50", worst, ref, "ms", worst <= FIRST_PAGE_MS, note)
        )

        cursor_page = query({"limit": 10, "offset": 100_000})["next_cursor"]
        deep = p50(timed_ms(lambda: query({"limit": 10, "cursor": cursor_page}), repeat))
        figures.append(
            Figure("3: query page after 100k by cursor p50", deep, ref, "ms", deep <= FIRST_PAGE_MS)
        )
        for name, body in {"all": {}, **QUERIES}.items():
            if name == "newest 10":
                continue
            answer = query({"count": True, **body})
            value = p50(timed_ms(lambda body=body: query({"count": True, **body}), max(5, repeat // 3)))
            shown = f"{answer['count']:,}" + ("+ (exact: false)" if answer.get("exact") is False else "")
            note = f"<= {COUNT_MS:g} ms; count {shown}"
            figures.append(Figure(f"3: count {name} p50", value, ref, "ms", value <= COUNT_MS, note))

        full = timed_ms(lambda: query({}), max(5, repeat // 3))  # no limit: one page of QUERY_LIMIT_MAX
        rss_after = max(rss_mb(pid) for pid in workers)
        figures.append(Figure("3: query without limit (1,000 tasks) p50", p50(full), None, "ms", True,
                              "bounded: a page of QUERY_LIMIT_MAX and a cursor"))  # fmt: skip
        note = f"<= {RSS_PER_WORKER_MB:g} MB per worker; before: {rss_before:.0f} MB"
        met = rss_after <= RSS_PER_WORKER_MB
        figures.append(Figure("3: coordinator worker RSS after queries", rss_after, None, "MB", met, note))
    return figures


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--keep", metavar="NAME", help="seed the database mito_NAME once and keep it")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile each query in this process instead of timing"
    )
    args = parser.parse_args(argv)
    return run(args.tasks, args.repeat, args.keep, args.profile)
