"""Dispatch buckets: empty ones are pruned by the housekeeping job, and claims stay right around it."""

from __future__ import annotations

import uuid as uuid_mod

import pytest
import sqlalchemy as sa

from app import db
from app.models import ActiveTask, Group, TaskBucket, TaskState, tags_key
from app.services import dispatch


def _buckets(app) -> set[str]:
    with app.app_context():
        keys = set(db.session.scalars(sa.select(TaskBucket.tags_key)))
        db.session.remove()
        return keys


def _prune(app) -> int:
    with app.app_context():
        pruned = dispatch.prune_buckets()
        db.session.remove()
        return pruned


def test_prune_deletes_only_buckets_without_ready_tasks(sched, alice, app):
    sched.submit(alice, "alice", tags=["a"])
    kept = sched.submit(alice, "alice", tags=["b"])["uuid"]
    sched.run(sched.register(alice, tags=["a"]))  # bucket ["a"] is empty now
    assert _buckets(app) == {tags_key(["a"]), tags_key(["b"])}
    assert _prune(app) == 1
    assert _buckets(app) == {tags_key(["b"])}
    assert _prune(app) == 0
    assert sched.fetch(sched.register(alice, tags=["b"]))["uuid"] == kept


def test_claims_after_pruning_see_new_and_requeued_tasks(sched, alice, client, app):
    w = sched.register(alice, tags=["a"])
    sched.submit(alice, "alice", tags=["a"])
    held = sched.fetch(w)
    assert _prune(app) == 1 and _buckets(app) == set()
    fresh = sched.submit(alice, "alice", tags=["a"])["uuid"]  # lists its bucket again
    assert _buckets(app) == {tags_key(["a"])}
    assert sched.fetch(sched.register(alice, tags=["a"]))["uuid"] == fresh
    assert _prune(app) == 1
    # The holder is removed: its task goes back to Ready and lists its bucket again.
    assert client.delete(f"/workers/{w['worker_id']}?op=force", headers=alice).status_code == 200
    assert _buckets(app) == {tags_key(["a"])}
    assert sched.fetch(sched.register(alice, tags=["a"]))["uuid"] == held["uuid"]


@pytest.mark.postgres_only
def test_prune_waits_for_a_transaction_listing_a_bucket(sched, alice, app, db_url, monkeypatch):
    """A submit in flight into an empty bucket: the prune gives up instead of deleting it under the task."""
    sched.submit(alice, "alice", tags=["a"])
    sched.run(sched.register(alice, tags=["a"]))
    monkeypatch.setattr(dispatch, "PRUNE_LOCK_TIMEOUT", "200ms")
    engine = sa.create_engine(db_url)
    try:
        with engine.connect() as other:
            tx = other.begin()
            group = other.execute(sa.select(Group).where(Group.group_name == "alice")).one()
            # What a submit does: list the bucket (already there: nothing inserted), insert the Ready task.
            other.execute(
                sa.text(
                    "INSERT INTO task_buckets (group_id, tags_key, tags, created_at) "
                    "VALUES (:g, :k, ARRAY['a'], now()) ON CONFLICT DO NOTHING"
                ),
                {"g": group.id, "k": tags_key(["a"])},
            )
            task = {"creator_id": group.creator_id, "group_id": group.id, "task_id": 99, "tags": ["a"],
                    "labels": [], "tags_key": tags_key(["a"]), "state": TaskState.Ready, "timeout": 60,
                    "priority": 0, "spec": {"args": ["true"]}, "uuid": uuid_mod.uuid4()}  # fmt: skip
            other.execute(sa.insert(ActiveTask).values(**task))
            assert _prune(app) == 0
            assert _buckets(app) == {tags_key(["a"])}
            tx.commit()
    finally:
        engine.dispose()
    assert _prune(app) == 0  # the bucket holds a Ready task now
    assert sched.fetch(sched.register(alice, tags=["a"]))["uuid"] == str(task["uuid"])
