"""GET /tasks/{uuid}/explain: the worker counts narrowed step by step, the missing tag, the queue ahead,
the upstream and watch, a verdict; 404/403 as for reading the task."""

from __future__ import annotations

import uuid as uuid_mod

import pytest


class World:
    """alice with her personal group, workers registered through the API."""

    def __init__(self, client, users):
        self.client = client
        self.alice = users.headers(users.create("alice"))

    def submit(self, tags=(), priority=0, **spec) -> str:
        body = {"group_name": "alice", "tags": list(tags), "labels": [], "timeout": "1m",
                "priority": priority, "task_spec": {"args": ["true"], **spec}}  # fmt: skip
        resp = self.client.post("/tasks", json=body, headers=self.alice)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()["uuid"]

    def worker(self, tags=(), groups=("alice",)) -> dict[str, str]:
        body = {"tags": list(tags), "groups": list(groups)}
        resp = self.client.post("/workers", json=body, headers=self.alice)
        assert resp.status_code == 200, resp.get_json()
        return {"Authorization": f"Bearer {resp.get_json()['token']}"}

    def explain(self, uuid: str, headers=None):
        return self.client.get(f"/tasks/{uuid}/explain", headers=headers or self.alice)


@pytest.fixture
def world(client, users) -> World:
    return World(client, users)


def test_explain_without_workers_says_none_is_registered(world):
    resp = world.explain(world.submit())
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["state"] == "Ready"
    assert body["workers"] == {"live": 0, "group": 0, "tags": 0, "idle": 0}
    assert "no worker is registered" in body["verdict"]


def test_explain_names_the_tag_the_closest_workers_lack(world):
    world.worker(tags=["linux"])
    world.worker(tags=["linux", "cuda"])
    world.worker(tags=[])
    body = world.explain(world.submit(tags=["linux", "cuda", "gpu"])).get_json()
    assert body["workers"] == {"live": 3, "group": 3, "tags": 0, "idle": 0}
    assert body["missing_tags"] == ["gpu"]
    assert body["verdict"].endswith("the closest lack: gpu")


def test_explain_counts_workers_of_other_groups_as_live_only(world, users):
    bob = users.headers(users.create("bob"))
    assert world.client.post("/workers", json={"tags": [], "groups": []}, headers=bob).status_code == 200
    body = world.explain(world.submit()).get_json()
    assert body["workers"] == {"live": 1, "group": 0, "tags": 0, "idle": 0}
    assert "serves group alice" in body["verdict"]


def test_explain_counts_the_tasks_ahead_in_its_queue_and_busy_workers(world):
    worker = world.worker(tags=["a"])
    world.submit(tags=["a"])  # ahead of it
    urgent = world.submit(tags=["a"], priority=5)  # claimed below: no longer ahead
    claimed = world.client.get("/workers/tasks", headers=worker).get_json()
    older = world.submit(tags=["a"])
    world.submit(tags=["b"])  # another queue
    mine = world.submit(tags=["a"])
    world.submit(tags=["a"], priority=-1)  # behind it
    body = world.explain(mine).get_json()
    assert claimed["uuid"] == urgent
    assert body["workers"] == {"live": 1, "group": 1, "tags": 1, "idle": 0}
    assert (body["ahead"], body["ahead_capped"]) == (2, False)
    assert "busy" in body["verdict"] and "2 task(s) ahead" in body["verdict"]
    assert world.explain(older).get_json()["ahead"] == 1


def test_explain_of_a_claimed_task_names_its_worker(world):
    worker = world.worker()
    uuid = world.submit()
    assert world.client.get("/workers/tasks", headers=worker).get_json()["uuid"] == uuid
    body = world.explain(uuid).get_json()
    assert body["state"] == "Running" and body["worker"] is not None
    assert body["verdict"] == f"it is running on worker {body['worker']}"


def test_explain_of_a_watching_task_says_what_it_waits_for(world):
    worker = world.worker()
    watched = world.submit()
    uuid = world.submit(watch=[watched, "ExecSpawned"])
    claimed = world.client.get("/workers/tasks", headers=worker).get_json()
    assert claimed["uuid"] == watched  # claim the watched one first, then cancel it so the watcher runs
    op = {"id": claimed["id"], "op": "Cancel"}
    assert world.client.post("/workers/tasks", json=op, headers=worker).status_code == 200
    commit = {"id": claimed["id"], "op": {"Commit": {"exit_status": 0, "msg": None}}}
    assert world.client.post("/workers/tasks", json=commit, headers=worker).status_code == 200
    mine = world.client.get("/workers/tasks", headers=worker).get_json()
    op = {"id": mine["id"], "op": {"ExecState": "Watch"}}
    assert world.client.post("/workers/tasks", json=op, headers=worker).status_code == 200
    body = world.explain(uuid).get_json()
    assert body["watch"]["uuid"] == watched and body["watch_exec_state"] == "ExecSpawned"
    assert f"waits for task {watched} to reach ExecSpawned" in body["verdict"]


def test_explain_of_an_ended_task_says_so(world, client):
    uuid = world.submit()
    assert client.delete(f"/tasks/{uuid}", headers=world.alice).status_code == 200
    body = world.explain(uuid).get_json()
    assert body["state"] == "Cancelled" and body["verdict"].startswith("it has ended: Cancelled")


def test_explain_of_an_unknown_task_is_404(world):
    missing = uuid_mod.uuid4()
    resp = world.explain(str(missing))
    assert resp.status_code == 404
    assert resp.get_json() == {
        "error": f"Task with uuid {missing} not found",
        "msg": f"Task with uuid {missing} not found",
    }


def test_explain_of_a_malformed_uuid_is_404_json(world):
    resp = world.explain("not-a-uuid")
    assert resp.status_code == 404 and "error" in resp.get_json()


def test_explain_of_another_groups_task_is_403(world, users):
    uuid = world.submit()
    resp = world.explain(uuid, headers=users.headers(users.create("mallory")))
    assert resp.status_code == 403 and "Permission denied" in resp.get_json()["error"]


def test_explain_of_another_groups_task_is_allowed_to_an_admin(world, admin_headers):
    assert world.explain(world.submit(), headers=admin_headers).status_code == 200
