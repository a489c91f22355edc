"""Fixtures for the storage tests: a group with members of every role, tasks, workers and stored objects."""

from __future__ import annotations

import functools
import uuid
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from app import auth, db
from app.db import utcnow
from app.models import (
    ActiveTask,
    ArchivedTask,
    Artifact,
    Attachment,
    Group,
    Role,
    TaskState,
    User,
    UserGroup,
    Worker,
)
from app.models.enums import ArtifactContentType

GROUP = "owner"  # the owner's personal group, where the other users get roles


class World:
    """Users `owner` (Admin of GROUP), `writer`, `reader`, `outsider`, site admin `root`; tasks, workers."""

    def __init__(self, app, users):
        self.app = app
        self.users = users
        self.tokens = {"owner": users.create("owner")}
        for name in ("writer", "reader", "outsider"):
            self.tokens[name] = users.create(name)
        self.tokens["root"] = users.create("root", admin=True)
        with app.app_context():
            group = self.group()
            for name, role in (("writer", Role.Write), ("reader", Role.Read)):
                db.session.add(UserGroup(user_id=self.user(name).id, group_id=group.id, role=role))
            db.session.commit()

    def headers(self, who: str | None) -> dict[str, str]:
        if who is None:
            return {}
        if who in self.tokens:
            return {"Authorization": f"Bearer {self.tokens[who]}"}
        return {"Authorization": f"Bearer {who}"}  # a raw (worker) token

    def user(self, name: str) -> User:
        return db.session.scalar(sa.select(User).where(User.username == name))

    def group(self, name: str = GROUP) -> Group:
        return db.session.scalar(
            sa.select(Group).where(Group.group_name == name).execution_options(populate_existing=True)
        )

    def storage_used(self, name: str = GROUP) -> int:
        with self.app.app_context():
            return self.group(name).storage_used

    def set_quota(self, quota: int, name: str = GROUP) -> None:
        with self.app.app_context():
            self.group(name).storage_quota = quota
            db.session.commit()

    def task(
        self,
        group: str = GROUP,
        creator: str = "owner",
        *,
        archived: bool = False,
        state: TaskState = TaskState.Ready,
        **fields,
    ) -> uuid.UUID:
        """Insert a task row directly (the task service belongs to another engineer)."""
        with self.app.app_context():
            g = self.group(group)
            g.task_count += 1
            model = ArchivedTask if archived else ActiveTask
            row = model(
                creator_id=self.user(creator).id,
                group_id=g.id,
                task_id=g.task_count,
                uuid=uuid.uuid4(),
                tags=fields.pop("tags", []),
                labels=fields.pop("labels", []),
                state=state,
                timeout=600,
                priority=fields.pop("priority", 0),
                spec={"args": ["true"]},
                **fields,
            )
            if archived:
                row.id = 10_000 + g.task_count + g.id * 1000
                row.exit_status = (row.result or {}).get("exit_status")
            db.session.add(row)
            db.session.commit()
            return row.uuid

    def worker(self, creator: str = "owner", holds: uuid.UUID | None = None) -> str:
        """Register a worker row (holding a task if `holds`) and return its token."""
        with self.app.app_context():
            w = Worker(creator_id=self.user(creator).id, expires_at=utcnow() + timedelta(days=1))
            db.session.add(w)
            db.session.flush()
            if holds is not None:
                task = db.session.scalar(sa.select(ActiveTask).where(ActiveTask.uuid == holds))
                task.assigned_worker, task.state, w.assigned_task_id = w.id, TaskState.Running, task.id
            db.session.commit()
            return auth.issue_worker_token(w, 86400)

    def age(self, hours: float = 2) -> None:
        """Move every object's updated_at back (the one-hour delete rule)."""
        with self.app.app_context():
            past = utcnow() - timedelta(hours=hours)
            db.session.execute(sa.update(Attachment).values(updated_at=past))
            db.session.execute(sa.update(Artifact).values(updated_at=past))
            db.session.commit()

    def count(self, model) -> int:
        with self.app.app_context():
            return db.session.scalar(sa.select(sa.func.count()).select_from(model))

    def artifact_row(self, task_uuid, content_type=ArtifactContentType.Result) -> Artifact | None:
        with self.app.app_context():
            return db.session.scalar(
                sa.select(Artifact).where(
                    Artifact.task_uuid == task_uuid, Artifact.content_type == content_type
                )
            )


_hash_once = functools.lru_cache(maxsize=None)(auth.hash_password)


@pytest.fixture
def world(app, users, monkeypatch) -> World:
    # argon2 takes ~0.3 s per user: hash the shared test password once per session (still a real hash).
    monkeypatch.setattr(auth, "hash_password", _hash_once)
    return World(app, users)


def local_path(url: str) -> str:
    """The path and query of a signed local-store URL, for the Flask test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


@pytest.fixture
def put_object(client):
    """PUT bytes to a signed local-store URL through the test client."""

    def put(url: str, data: bytes, **headers):
        return client.put(local_path(url), data=data, headers=headers)

    return put


@pytest.fixture
def get_object(client):
    def get(url: str):
        return client.get(local_path(url))

    return get
