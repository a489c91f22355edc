"""Builders: plain functions that write rows through the models, for tests that need data in place.

One idiom for the whole suite: pytest fixtures live in the conftest files; what builds rows lives here.
Functions without an `app` argument run inside an app context (the `app_ctx` fixture) and commit; those
with one open their own context. Through-the-API drivers (`Sched`, `World`) are built on the same rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from app import auth, db
from app.models import (
    ActiveTask,
    ArchivedTask,
    Artifact,
    Attachment,
    CoordinatorLiveness,
    Group,
    GroupWorker,
    Role,
    TaskState,
    User,
    UserGroup,
    Worker,
)
from app.models.enums import ArtifactContentType


def admin() -> User:
    return db.session.scalars(sa.select(User).order_by(User.id)).first()


def group(name: str = "lab") -> Group:
    owner = admin()
    found = db.session.scalars(sa.select(Group).where(Group.group_name == name)).first()
    if found:
        return found
    grp = Group(group_name=name, creator_id=owner.id)
    db.session.add(grp)
    db.session.commit()
    return grp


def worker(*, silent_for: float = 0, expires_in: float = 86400, grp: Group | None = None) -> Worker:
    now = db.utcnow()
    w = Worker(
        creator_id=admin().id,
        last_heartbeat=now - timedelta(seconds=silent_for),
        expires_at=now + timedelta(seconds=expires_in),
    )
    db.session.add(w)
    db.session.flush()
    db.session.add(GroupWorker(group_id=(grp or group()).id, worker_id=w.id, role=Role.Write))
    db.session.commit()
    return w


def task(
    *, holder: Worker | None = None, timeout: int = 60, running_for: float = 0, lost_count: int = 0
) -> ActiveTask:
    """An active task; Running and held by `holder` when given (claimed `running_for` seconds ago)."""
    grp = group()
    grp.task_count += 1
    t = ActiveTask(
        creator_id=admin().id,
        group_id=grp.id,
        task_id=grp.task_count,
        uuid=uuid.uuid4(),
        tags=[],
        labels=[],
        tags_key="[]",
        state=TaskState.Running if holder else TaskState.Ready,
        timeout=timeout,
        priority=0,
        spec={"args": ["true"], "envs": {}, "resources": [], "terminal_output": False, "watch": None},
        lost_count=lost_count,
    )
    db.session.add(t)
    db.session.flush()
    if holder is not None:
        t.assigned_worker = holder.id
        t.attempt = 1
        t.claimed_at = db.utcnow() - timedelta(seconds=running_for)
        holder.assigned_task_id = t.id
    db.session.commit()
    return t


def coordinator_served(
    *, since: datetime | None = None, until: datetime | None = None, outage_after: float = 15.0
) -> None:
    """The liveness mark of a coordinator that served from `since` (a day ago) to `until` (now), no gap."""
    until = until or db.utcnow()
    since = since or until - timedelta(days=1)
    # An upsert, not a merge: a live coordinator's marker may insert the row between a merge's read and write.
    values = {"seen_at": until, "live_since": since, "outage_after": outage_after}
    insert = postgresql.insert if db.is_postgres() else sqlite.insert
    stmt = insert(CoordinatorLiveness).values(id=1, **values)
    db.session.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=values))
    db.session.commit()


def read(stmt):
    """One scalar, in a transaction that ends at once (SQLite: never hold the write lock while waiting)."""
    db.session.rollback()
    value = db.session.scalar(stmt)
    db.session.rollback()
    return value


def read_all(stmt) -> list:
    """All scalars, in a transaction that ends at once."""
    db.session.rollback()
    values = list(db.session.scalars(stmt))
    db.session.rollback()
    return values


def make_worker(app, creator: str, groups: dict[str, str] | None = None, lifetime: int = 3600) -> str:
    """Insert a worker row for `creator` with roles {group: "Read"|"Write"|"Admin"}; return a worker token."""
    with app.app_context():
        worker = Worker(
            creator_id=user(creator).id,
            tags=[],
            labels=[],
            expires_at=db.utcnow() + timedelta(seconds=lifetime),
        )
        db.session.add(worker)
        db.session.flush()
        for name, role in (groups or {}).items():
            group = db.session.scalar(sa.select(Group).where(Group.group_name == name))
            db.session.add(GroupWorker(group_id=group.id, worker_id=worker.id, role=Role[role]))
        db.session.commit()
        token = auth.issue_worker_token(worker, lifetime)
        db.session.remove()
        return token


def user(name: str) -> User:
    """The user called `name` (inside an app context)."""
    return db.session.scalar(sa.select(User).where(User.username == name))


def add_members(grp: Group, roles: dict[str, str]) -> None:
    """Give each user {username: "Read"|"Write"|"Admin"} that role in `grp` (flushes, the caller commits)."""
    for name, role in roles.items():
        db.session.add(UserGroup(user_id=user(name).id, group_id=grp.id, role=Role[role]))
    db.session.flush()


class Sched:
    def __init__(self, client, users):
        self.client, self.users = client, users

    def submit(
        self,
        headers,
        group,
        *,
        tags=(),
        labels=(),
        priority=0,
        timeout="10m",
        args=("true",),
        expect=200,
        **spec,
    ):
        body = {
            "group_name": group,
            "tags": list(tags),
            "labels": list(labels),
            "timeout": timeout,
            "priority": priority,
            "task_spec": {"args": list(args), **spec},
        }
        resp = self.client.post("/tasks", json=body, headers=headers)
        assert resp.status_code == expect, resp.get_json()
        return resp.get_json()

    def register(self, headers, *, tags=(), groups=(), labels=None, lifetime=None, expect=200):
        body = {"tags": list(tags), "groups": list(groups)}
        if labels is not None:
            body["labels"] = labels
        if lifetime is not None:
            body["lifetime"] = lifetime
        resp = self.client.post("/workers", json=body, headers=headers)
        assert resp.status_code == expect, resp.get_json()
        return resp.get_json()

    def wh(self, worker: dict) -> dict[str, str]:
        return {"Authorization": f"Bearer {worker['token']}"}

    def fetch(self, worker: dict):
        resp = self.client.get("/workers/tasks", headers=self.wh(worker))
        assert resp.status_code in (200, 204), resp.get_json()
        return resp.get_json() if resp.status_code == 200 else None

    def report(self, worker: dict, task_id: int, op, expect=200):
        resp = self.client.post("/workers/tasks", json={"id": task_id, "op": op}, headers=self.wh(worker))
        assert resp.status_code == expect, resp.get_json()
        return resp.get_json()

    def run(self, worker: dict, exit_status=0, state="Finish"):
        """Fetch, finish and commit one task; returns the fetched task."""
        task = self.fetch(worker)
        assert task is not None
        self.report(worker, task["id"], state)
        self.report(worker, task["id"], {"Commit": {"exit_status": exit_status, "msg": None}})
        return task

    def group(self, owner_headers, name, members: dict[str, str] | None = None):
        """Create a group with members directly in the database (owner Admin, then {username: role})."""
        with self.client.application.app_context():
            owner = user(self.users_of(owner_headers))
            grp = Group(group_name=name, creator_id=owner.id)
            db.session.add(grp)
            db.session.flush()
            add_members(grp, {owner.username: "Admin", **(members or {})})
            db.session.commit()

    def users_of(self, headers) -> str:
        from flask_jwt_extended import decode_token

        with self.client.application.app_context():
            return decode_token(headers["Authorization"].split()[1])["sub"]


GROUP = "owner"  # World: the owner's personal group, where the other users get roles


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
            add_members(self.group(), {"writer": "Write", "reader": "Read"})
            db.session.commit()

    def headers(self, who: str | None) -> dict[str, str]:
        if who is None:
            return {}
        if who in self.tokens:
            return {"Authorization": f"Bearer {self.tokens[who]}"}
        return {"Authorization": f"Bearer {who}"}  # a raw (worker) token

    def user(self, name: str) -> User:
        return user(name)

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
            w = Worker(creator_id=self.user(creator).id, expires_at=db.utcnow() + timedelta(days=1))
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
            past = db.utcnow() - timedelta(hours=hours)
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
