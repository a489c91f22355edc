"""Fixtures for the scheduling tests: submit tasks and register workers through the API."""

from __future__ import annotations

import os

import pytest


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "postgres_only: deselected when the suite runs on SQLite (MITO_TEST_DB=sqlite)"
    )


def pytest_collection_modifyitems(config, items):
    if os.environ.get("MITO_TEST_DB", "postgresql") != "sqlite":
        return
    dropped = [item for item in items if item.get_closest_marker("postgres_only")]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not item.get_closest_marker("postgres_only")]


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
        """Create a group with members directly in the database (the groups API is another issue)."""
        import sqlalchemy as sa

        from app import db
        from app.models import Group, Role, User, UserGroup

        with self.client.application.app_context():
            owner = db.session.scalar(sa.select(User).where(User.username == self.users_of(owner_headers)))
            group = Group(group_name=name, creator_id=owner.id)
            db.session.add(group)
            db.session.flush()
            db.session.add(UserGroup(user_id=owner.id, group_id=group.id, role=Role.Admin))
            for username, role in (members or {}).items():
                user = db.session.scalar(sa.select(User).where(User.username == username))
                db.session.add(UserGroup(user_id=user.id, group_id=group.id, role=Role[role]))
            db.session.commit()

    def users_of(self, headers) -> str:
        from flask_jwt_extended import decode_token

        with self.client.application.app_context():
            return decode_token(headers["Authorization"].split()[1])["sub"]


@pytest.fixture(scope="package", autouse=True)
def _cheap_password_hashing():
    """These tests create many users; argon2's default cost (~0.4 s a hash here) is not what they test."""
    from argon2 import PasswordHasher

    from app import auth

    saved = auth._hasher
    auth._hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    yield
    auth._hasher = saved


@pytest.fixture
def sched(client, users) -> Sched:
    return Sched(client, users)


@pytest.fixture
def alice(users):
    return users.headers(users.create("alice"))


@pytest.fixture
def bob(users):
    return users.headers(users.create("bob"))
