"""Parallel claims over HTTP through two coordinator processes: every task claimed exactly once.

PostgreSQL only (marker postgres_only: deselected on the SQLite run, see conftest). SQLite serialises
every writer, so the test proves nothing new there and 6,000 serialised requests take minutes on 2 cores;
the same claim code runs on SQLite in every dispatch test.
"""

from __future__ import annotations

import threading
import time
import uuid as uuid_mod

import httpx
import pytest
import sqlalchemy as sa

from app import db
from app.models import ActiveTask, ArchivedTask
from tests.helpers import LiveCoordinator

TASKS, WORKERS = 2000, 16
pytestmark = [pytest.mark.postgres_only, pytest.mark.timeout(900)]


def _queue_ready_tasks(app, group_name: str, count: int) -> None:
    """Insert Ready tasks in bulk (setup speed); the API path is covered by the other tests."""
    from app.models import Group, TaskState, tags_key
    from app.services import lifecycle

    with app.app_context():
        group = db.session.scalar(sa.select(Group).where(Group.group_name == group_name))
        rows = [
            {
                "creator_id": group.creator_id, "group_id": group.id, "task_id": n + 1,
                "uuid": uuid_mod.uuid4(), "tags": [], "labels": [], "tags_key": tags_key([]),
                "state": TaskState.Ready, "timeout": 60, "priority": n % 3, "spec": {"args": ["true"]},
            }
            for n in range(count)
        ]  # fmt: skip
        db.session.execute(sa.insert(ActiveTask), rows)
        lifecycle.ensure_bucket(group.id, [])
        db.session.execute(sa.update(Group).where(Group.id == group.id).values(task_count=count))
        db.session.commit()


def test_parallel_fetches_from_two_coordinators_claim_each_task_once(
    db_url, tmp_path, sched, alice, client, app
):
    _queue_ready_tasks(app, "alice", TASKS)
    workers = [sched.register(alice) for _ in range(WORKERS)]
    coordinators = [LiveCoordinator(db_url, tmp_path / f"c{n}").start() for n in range(2)]
    claims: list[tuple[str, str]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        worker = workers[n]
        headers = {"Authorization": f"Bearer {worker['token']}"}
        base = coordinators[n % 2].url
        idle = 0
        with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
            while idle < 20:
                resp = http.get("/workers/tasks")
                if resp.status_code == 204:
                    idle += 1
                    time.sleep(0.05)
                    continue
                if resp.status_code != 200:
                    errors.append(f"fetch {resp.status_code} {resp.text}")
                    return
                idle = 0
                task = resp.json()
                with lock:
                    claims.append((task["uuid"], worker["worker_id"]))
                for op in ("Finish", {"Commit": {"exit_status": 0, "msg": None}}):
                    report = http.post("/workers/tasks", json={"id": task["id"], "op": op})
                    if report.status_code != 200:
                        errors.append(f"report {report.status_code} {report.text}")
                        return

    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for c in coordinators:
            c.stop()
    assert errors == []
    assert len(claims) == TASKS
    assert len({u for u, _ in claims}) == TASKS
    assert len({w for _, w in claims}) > 1
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ActiveTask)) == 0
        archived = dict(db.session.execute(sa.select(ArchivedTask.uuid, ArchivedTask.reporter_uuid)).all())
    assert len(archived) == TASKS
    assert {(str(u), str(r)) for u, r in archived.items()} == set(claims)
    assert all(isinstance(u, uuid_mod.UUID) for u in archived)
