"""Empty polls among 100,000 dispatch buckets (issue 13 goal 4): statement time, before and after pruning.

A scratch PostgreSQL database holds N buckets of distinct tag sets with no Ready task in them (what years
of distinct tag sets leave behind) and one worker whose tags match none. The poll (dispatch.fetch_task, as
GET /workers/tasks runs it) is run in this process; each of its statements is then replayed with EXPLAIN
(ANALYZE) and their execution times summed: the statement time. The reference is a single-row read by
primary key, measured the same way. Then jobs.tasks.prune_buckets runs (its time printed) and the poll is
measured again.

    .venv/bin/python -m bench buckets [--buckets 100000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import sqlalchemy as sa

from bench import seed
from bench.common import Figure, p50, statement_ms
from tests.helpers import TEST_JWT_SECRET

POLL_MS = 2.0


def _poll_statements(db_url: str) -> list[tuple[str, Any]]:
    """The statements of one empty poll of the bench worker (dispatch.fetch_task returns None)."""
    from app import create_app, db
    from app.models import Worker
    from app.services import dispatch

    app = create_app(
        {"DB_URL": db_url, "JWT_SECRET": TEST_JWT_SECRET, "CONFIG_FILE": "/none", "LIVENESS_MARKER": False}
    )
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        captured.append((statement, params))

    with app.app_context():
        engine = db.session.get_bind()
        worker = db.session.scalars(sa.select(Worker)).one()
        sa.event.listen(engine, "before_cursor_execute", capture)
        try:
            assert dispatch.fetch_task(worker=worker) is None
        finally:
            sa.event.remove(engine, "before_cursor_execute", capture)
        db.session.remove()
    return captured


def _prune(db_url: str) -> tuple[int, float]:
    from app import create_app, db
    from app.services import dispatch

    app = create_app(
        {"DB_URL": db_url, "JWT_SECRET": TEST_JWT_SECRET, "CONFIG_FILE": "/none", "LIVENESS_MARKER": False}
    )
    with app.app_context():
        start = time.perf_counter()
        pruned = 0
        while batch := dispatch.prune_buckets():
            pruned += batch
        elapsed = (time.perf_counter() - start) * 1000
        db.session.remove()
    return pruned, elapsed


def run(buckets: int = 100_000, repeat: int = 30) -> list[Figure]:
    """Seed the buckets and a worker, measure the poll before and after pruning; the goal 4 figure."""
    with seed.scratch_db(tag="bench_buckets") as db_url:
        engine = sa.create_engine(db_url)
        group_id = seed.seed_group(engine)
        seed.seed_buckets(engine, group_id, buckets)
        worker_id = seed.sql(
            engine,
            """INSERT INTO workers (uuid, creator_id, tags, labels, state, last_heartbeat, expires_at,
                   created_at, updated_at)
               SELECT gen_random_uuid(), id, ARRAY['mine'], '{}', 0, now(), now() + interval '1 day', now(),
                   now() FROM users WHERE username = :g RETURNING id""",
            g=seed.GROUP,
        ).scalar_one()
        seed.sql(engine, "INSERT INTO group_worker (group_id, worker_id, role) VALUES (:g, :w, 1)",
                 g=group_id, w=worker_id)  # fmt: skip
        statements = _poll_statements(db_url)
        reference = [("SELECT * FROM users WHERE id = %(id)s", {"id": 1})]
        with engine.connect() as conn:
            before = p50([statement_ms(conn, statements) for _ in range(repeat)])
            ref = p50([statement_ms(conn, reference) for _ in range(repeat)])
            pruned, prune_ms = _prune(db_url)
            after = p50([statement_ms(conn, statements) for _ in range(repeat)])
        engine.dispose()
    print(f"buckets: empty poll statement time with {buckets:,} empty buckets {before:.3f} ms; "
          f"pruned {pruned:,} in {prune_ms:.0f} ms; after {after:.3f} ms", flush=True)  # fmt: skip
    note = f"<= {POLL_MS:g} ms statement time; {buckets:,} buckets, not pruned (after pruning {after:.3f} ms)"
    return [
        Figure(
            f"4: empty poll among {buckets:,} buckets (statements)",
            before,
            ref,
            "ms",
            before <= POLL_MS,
            note,
        )
    ]


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--buckets", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    return run(args.buckets, args.repeat)
