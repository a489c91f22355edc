"""Live output through the API: POST /workers/tasks/output (the holder ships chunks) and
GET /tasks/{uuid}/output (a reader follows them), on the table store and on a Redis stream."""

from __future__ import annotations

import uuid as uuid_mod
from datetime import timedelta

import pytest

from app import db
from app.services import output_store
from mito.vocab.output import CHUNK_MAX, CHUNKS_PER_REQUEST, TAIL_CHUNKS
from tests.helpers import db_snapshot

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture(params=["table", "redis"])
def store(request, app, monkeypatch):
    """Which store keeps the tails: the table (no Redis configured) or a Redis stream."""
    monkeypatch.setitem(app.config, "REDIS_URL", REDIS_URL if request.param == "redis" else None)
    return request.param


class World:
    """alice submits a task; her worker claims it."""

    def __init__(self, client, users):
        self.client = client
        self.alice = users.headers(users.create("alice"))
        body = {"group_name": "alice", "tags": [], "labels": [], "timeout": "1m", "priority": 0,
                "task_spec": {"args": ["true"]}}  # fmt: skip
        self.uuid = client.post("/tasks", json=body, headers=self.alice).get_json()["uuid"]
        resp = client.post("/workers", json={"tags": [], "groups": ["alice"]}, headers=self.alice)
        self.worker = {"Authorization": f"Bearer {resp.get_json()['token']}"}
        self.id = client.get("/workers/tasks", headers=self.worker).get_json()["id"]

    def ship(self, *chunks, headers=None, task_id=None):
        body = {"id": self.id if task_id is None else task_id, "chunks": list(chunks)}
        return self.client.post("/workers/tasks/output", json=body, headers=headers or self.worker)

    def read(self, headers=None, **args):
        return self.client.get(f"/tasks/{self.uuid}/output", query_string=args, headers=headers or self.alice)

    def commit(self):
        for op in ("Finish", {"Commit": {"exit_status": 0, "msg": None}}):
            resp = self.client.post("/workers/tasks", json={"id": self.id, "op": op}, headers=self.worker)
            assert resp.status_code == 200, resp.get_json()


@pytest.fixture
def world(client, users, store) -> World:
    return World(client, users)


def test_shipped_chunks_are_read_in_order_and_the_cursor_reads_on(world):
    out, err = {"stream": "stdout", "data": "one\n"}, {"stream": "stderr", "data": "oops\n", "skipped": 7}
    assert world.ship(out, err).status_code == 200
    first = world.read().get_json()
    assert first["chunks"] == [
        {"stream": "stdout", "data": "one\n", "skipped": 0},
        {"stream": "stderr", "data": "oops\n", "skipped": 7},
    ]
    assert (first["running"], first["state"]) == (True, "Running")
    assert world.read(after=first["next"]).get_json()["chunks"] == []
    assert world.ship({"stream": "stdout", "data": "two\n"}).status_code == 200
    later = world.read(after=first["next"]).get_json()
    assert [c["data"] for c in later["chunks"]] == ["two\n"]


def test_a_stream_filter_returns_only_that_stream(world):
    world.ship({"stream": "stdout", "data": "a"}, {"stream": "stderr", "data": "b"})
    assert [c["data"] for c in world.read(stream="stderr").get_json()["chunks"]] == ["b"]
    assert [c["data"] for c in world.read(stream="stdout").get_json()["chunks"]] == ["a"]


def test_the_tail_keeps_the_newest_chunks_only(world):
    for n in range(TAIL_CHUNKS + 40):
        assert world.ship({"stream": "stdout", "data": f"{n}\n"}).status_code == 200
    datas, args = [], {}
    while (page := world.read(**args).get_json())["chunks"]:
        datas += [c["data"] for c in page["chunks"]]
        args = {"after": page["next"]}
    assert datas[-1] == f"{TAIL_CHUNKS + 39}\n"
    assert TAIL_CHUNKS <= len(datas) <= TAIL_CHUNKS + 40  # Redis trims approximately, the table exactly
    assert datas == [f"{n}\n" for n in range(TAIL_CHUNKS + 40 - len(datas), TAIL_CHUNKS + 40)]


def test_a_committed_tasks_tail_is_readable_for_a_grace_then_dropped(world, app, store):
    world.ship({"stream": "stdout", "data": "last words\n"})
    world.commit()
    page = world.read(wait=5).get_json()  # an ended task never makes a reader wait
    assert (page["running"], page["state"]) == (False, "Finished")
    assert [c["data"] for c in page["chunks"]] == ["last words\n"]
    with app.app_context():
        if store == "table":
            assert output_store.prune() == 0  # within the grace
            later = db.utcnow() + timedelta(seconds=output_store.FORGET_AFTER + 1)
            assert output_store.prune(now=later) == 1
        else:
            ttl = output_store.store().client.ttl(f"mito:output:{world.uuid}")  # type: ignore[attr-defined]
            assert 0 < ttl <= output_store.FORGET_AFTER
        db.session.remove()
    if store == "table":
        assert world.read().get_json()["chunks"] == []


def test_a_rerun_starts_with_an_empty_tail_and_an_old_cursor_reads_the_new_attempt(world, client):
    world.ship({"stream": "stdout", "data": "first attempt\n"})
    old = world.read().get_json()
    world.commit()
    assert client.post(f"/tasks/{world.uuid}/retry", headers=world.alice).status_code == 200
    page = world.read().get_json()
    assert (page["chunks"], page["running"], page["state"]) == ([], True, "Ready")
    world.id = client.get("/workers/tasks", headers=world.worker).get_json()["id"]
    assert world.ship({"stream": "stdout", "data": "second attempt\n"}).status_code == 200
    assert [c["data"] for c in world.read().get_json()["chunks"]] == ["second attempt\n"]
    # a follower of the first attempt reads on with its cursor into the second
    assert [c["data"] for c in world.read(after=old["next"]).get_json()["chunks"]] == ["second attempt\n"]


def test_a_worker_not_holding_the_task_cannot_ship_for_it(world, client):
    resp = client.post("/workers", json={"tags": [], "groups": ["alice"]}, headers=world.alice)
    other = {"Authorization": f"Bearer {resp.get_json()['token']}"}
    resp = world.ship({"stream": "stdout", "data": "x"}, headers=other)
    assert resp.status_code == 404 and "no longer held by this worker" in resp.get_json()["error"]
    assert world.read().get_json()["chunks"] == []


def test_a_user_token_cannot_ship(world):
    assert world.ship({"stream": "stdout", "data": "x"}, headers=world.alice).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        {"stream": "stdin", "data": "x"},
        {"stream": "stdout", "data": "x" * (CHUNK_MAX + 1)},
        {"stream": "stdout", "data": "x", "skipped": -1},
        {"stream": "stdout"},
        {"stream": "stdout", "data": 5},
    ],
    ids=["stream", "too-long", "negative-skip", "no-data", "not-text"],
)
def test_a_malformed_chunk_is_400_and_keeps_nothing(world, app, body):
    before = db_snapshot(app)
    resp = world.ship(body)
    assert resp.status_code == 400 and resp.get_json()["error"]
    assert db_snapshot(app) == before
    assert world.read().get_json()["chunks"] == []


def test_too_many_chunks_in_one_shipment_is_400(world):
    resp = world.ship(*[{"stream": "stdout", "data": "x"}] * (CHUNKS_PER_REQUEST + 1))
    assert resp.status_code == 400


def test_reading_an_unknown_task_is_404(world, client):
    missing = uuid_mod.uuid4()
    resp = client.get(f"/tasks/{missing}/output", headers=world.alice)
    assert resp.status_code == 404
    assert resp.get_json()["error"] == f"Task with uuid {missing} not found"


def test_reading_another_groups_task_is_403_and_allowed_to_an_admin(world, users, admin_headers):
    resp = world.read(headers=users.headers(users.create("mallory")))
    assert resp.status_code == 403 and "Permission denied" in resp.get_json()["error"]
    assert world.read(headers=admin_headers).status_code == 200


@pytest.mark.parametrize(
    "args", [{"after": "not-a-cursor"}, {"wait": "26"}, {"wait": "-1"}, {"wait": "nan"}, {"stream": "stdin"}]
)
def test_bad_read_arguments_are_400(world, args):
    resp = world.read(**args)
    assert resp.status_code == 400 and resp.get_json()["error"]
