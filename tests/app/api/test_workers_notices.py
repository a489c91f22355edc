"""Notices on a worker's Redis channel (real Redis), published once a cancel or a removal is committed."""

from __future__ import annotations

import json
import os
import time

import pytest
import redis

REDIS_URL = os.environ.get("MITO_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def with_redis(app, monkeypatch):
    """The coordinator app publishing on the machine's Redis (channels are named by random worker uuids)."""
    monkeypatch.setitem(app.config, "REDIS_URL", REDIS_URL)
    client = redis.Redis.from_url(REDIS_URL)
    yield client
    client.close()


class Listener:
    """A subscription to one worker's channel."""

    def __init__(self, client: redis.Redis, worker_uuid: str):
        self.pubsub = client.pubsub(ignore_subscribe_messages=True)
        self.pubsub.subscribe(f"worker:{worker_uuid}")
        while self.pubsub.get_message(timeout=0.1) is not None:  # the subscribe confirmation is dropped
            pass

    def received(self, count: int, wait: float = 5.0) -> list[dict]:
        """The messages that arrived until `count` did, or `wait` seconds passed."""
        messages, deadline = [], time.monotonic() + wait
        while len(messages) < count and time.monotonic() < deadline:
            message = self.pubsub.get_message(timeout=0.1)
            if message and message["type"] == "message":
                messages.append(json.loads(message["data"]))
        return messages


def _running_task(client, alice) -> tuple[str, str, dict]:
    body = {"group_name": "alice", "tags": [], "labels": [], "timeout": "1m", "priority": 0,
            "task_spec": {"args": ["sleep", "600"]}}  # fmt: skip
    uuid = client.post("/tasks", json=body, headers=alice).get_json()["uuid"]
    reg = client.post("/workers", json={"tags": [], "groups": []}, headers=alice).get_json()
    worker = {"Authorization": f"Bearer {reg['token']}"}
    assert client.get("/workers/tasks", headers=worker).get_json()["uuid"] == uuid
    return uuid, reg["worker_id"], worker


def test_cancelling_a_running_task_tells_its_worker(client, users, with_redis):
    alice = users.headers(users.create("alice"))
    uuid, worker_uuid, worker = _running_task(client, alice)
    listener = Listener(with_redis, worker_uuid)
    assert client.delete(f"/tasks/{uuid}", headers=alice).status_code == 200
    assert listener.received(1) == [{"cancel": uuid}]
    # the heartbeat says the same to an agent without Redis
    assert client.post("/workers/heartbeat", headers=worker).get_json() == {"cancel": [uuid]}


def test_a_refused_cancel_tells_nobody(client, users, with_redis):
    alice = users.headers(users.create("alice"))
    bob = users.headers(users.create("bob"))
    uuid, worker_uuid, _ = _running_task(client, alice)
    listener = Listener(with_redis, worker_uuid)
    assert client.delete(f"/tasks/{uuid}", headers=bob).status_code == 403
    assert listener.received(1, wait=0.5) == []


def test_a_force_shutdown_drops_the_task_and_tells_the_worker_it_was_removed(client, users, with_redis):
    alice = users.headers(users.create("alice"))
    uuid, worker_uuid, _ = _running_task(client, alice)
    listener = Listener(with_redis, worker_uuid)
    assert client.delete(f"/workers/{worker_uuid}?op=Force", headers=alice).status_code == 200
    assert listener.received(2) == [{"drop": uuid}, {"removed": "force shutdown"}]
