"""Fencing for object writes (issue #12 item 6), on S3 (moto over real HTTP) and the local store, through a
live coordinator: an upload URL a lost attempt kept can never change what the committed task shows, and a
used upload URL replayed after its object was deleted leaves no object without a row and a charge.
"""

from __future__ import annotations

import uuid as uuid_mod
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from app import db
from app.models import Artifact, StorageDeletion, Worker
from app.models.enums import ArtifactContentType
from app.services import deletion as deletion_service
from app.services import storage as storage_service
from app.services import worker as worker_service
from app.storage import artifact_key
from tests.builders import GROUP
from tests.integration.test_storage_live import _app_like, local_coordinator, moto_server, s3_coordinator  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture(params=["s3", "local"])
def live(request, app_config):
    """(coordinator, an in-process app with its store settings)."""
    if request.param == "s3":
        coordinator, url = request.getfixturevalue("s3_coordinator"), request.getfixturevalue("moto_server")
        extra = {"S3_URL": url, "S3_ACCESS_KEY": "testing", "S3_SECRET_KEY": "testing"}
        return coordinator, _app_like(app_config, coordinator, **extra)
    coordinator = request.getfixturevalue("local_coordinator")
    return coordinator, _app_like(app_config, coordinator)


class Agentless:
    """The agent protocol spoken by hand over HTTP: register, claim, upload, finish, commit."""

    def __init__(self, base: str, world) -> None:
        self.base, self.world, self.http = base, world, httpx.Client(timeout=30)

    def submit(self) -> str:
        body = {"group_name": GROUP, "task_spec": {"args": ["true"]}}
        resp = self.http.post(f"{self.base}/tasks", json=body, headers=self.world.headers("owner"))
        assert resp.status_code == 200, resp.text
        return resp.json()["uuid"]

    def claim(self) -> tuple[str, str, int]:
        """A new worker that claims the next task: (worker uuid, its token, the task id)."""
        body = {"tags": [], "groups": []}
        reg = self.http.post(f"{self.base}/workers", json=body, headers=self.world.headers("owner")).json()
        task = self.http.get(f"{self.base}/workers/tasks", headers=self._as(reg["token"])).json()
        return reg["worker_id"], reg["token"], task["id"]

    def _as(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def report(self, token: str, task_id: int, op) -> httpx.Response:
        resp = self.http.post(
            f"{self.base}/workers/tasks", json={"id": task_id, "op": op}, headers=self._as(token)
        )
        assert resp.status_code == 200, resp.text
        return resp

    def upload_url(self, token: str, task_id: int, data: bytes) -> str:
        op = {"Upload": {"content_type": "std-log", "content_length": len(data)}}
        return self.report(token, task_id, op).json()["url"]

    def commit(self, token: str, task_id: int) -> None:
        self.report(token, task_id, "Finish")
        self.report(token, task_id, {"Commit": {"exit_status": 0, "msg": None}})

    def shown(self, task: str, attempt: int | None = None) -> bytes | None:
        """The std-log the task shows (or that of one attempt), None when there is none."""
        query = "?redirect=false" + ("" if attempt is None else f"&attempt={attempt}")
        resp = self.http.get(
            f"{self.base}/tasks/{task}/download/artifacts/std-log{query}",
            headers=self.world.headers("reader"),
        )
        if resp.status_code == 404:
            return None
        assert resp.status_code == 200, resp.text
        return self.http.get(resp.json()["url"]).content


def _lose(app, worker_uuid: str) -> None:
    with app.app_context():
        row = db.session.scalar(sa.select(Worker).where(Worker.uuid == uuid_mod.UUID(worker_uuid)))
        worker_service.remove_worker(worker=row, reason="heartbeat timeout")
        db.session.remove()


@pytest.mark.parametrize("next_uploads", [True, False], ids=["next-uploads", "next-uploads-nothing"])
def test_a_lost_attempts_upload_url_never_changes_what_the_committed_task_shows(live, world, next_uploads):
    coordinator, app = live
    agent = Agentless(coordinator.url, world)
    task = agent.submit()
    first, first_token, task_id = agent.claim()
    stale = agent.upload_url(first_token, task_id, b"old")
    _lose(app, first)  # attempt 1 is gone, with its URL in hand
    _, token, task_id = agent.claim()
    if next_uploads:
        assert agent.http.put(agent.upload_url(token, task_id, b"new"), content=b"new").status_code == 200
    agent.commit(token, task_id)

    assert agent.http.put(stale, content=b"old").status_code == 200  # the store takes it, at its own key...
    assert agent.shown(task) == (b"new" if next_uploads else None)  # ...which the task does not show
    assert agent.shown(task, attempt=1) == b"old"  # an earlier attempt's upload stays downloadable
    detail = agent.http.get(f"{coordinator.url}/tasks/{task}", headers=world.headers("reader")).json()
    assert [a["content_type"] for a in detail["artifacts"]] == (["std-log"] if next_uploads else [])
    assert [[a["content_type"] for a in attempt["artifacts"]] for attempt in detail["attempts"]] == [
        ["std-log"], ["std-log"] if next_uploads else [],
    ]  # fmt: skip
    assert world.storage_used() == 3 + (3 if next_uploads else 0)  # both attempts' objects are charged


def test_a_used_upload_url_replayed_after_a_delete_leaves_no_orphan(live, world):
    coordinator, app = live
    http = httpx.Client(timeout=30)
    task = world.task()
    resp = http.post(
        f"{coordinator.url}/tasks/{task}/artifacts", json={"content_type": "result", "content_length": 5},
        headers=world.headers("writer"),
    )  # fmt: skip
    url = resp.json()["url"]
    assert http.put(url, content=b"hello").status_code == 200
    world.age(hours=1.01)  # deletable by its writer, while its upload URL is still valid
    resp = http.delete(f"{coordinator.url}/tasks/{task}/artifacts/result", headers=world.headers("writer"))
    assert resp.status_code == 200
    key = artifact_key(task, ArtifactContentType.Result)
    with app.app_context():
        deletion_service.process_pending()
        store = storage_service.store()
        assert store.head("artifacts", key) is None
        assert http.put(url, content=b"hello").status_code == 200  # replayed: the object is back...
        assert store.head("artifacts", key) == 5
        # ...until the second deletion, queued for when that URL has expired
        later = db.session.scalar(sa.select(StorageDeletion).where(StorageDeletion.key == key))
        assert later.not_before is not None and later.not_before > db.utcnow()
        later.not_before = db.utcnow() - timedelta(seconds=1)  # the URL's hour is over
        db.session.commit()
        assert deletion_service.process_pending() == 1
        assert store.head("artifacts", key) is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Artifact)) == 0
        db.session.remove()
    assert world.storage_used() == 0
