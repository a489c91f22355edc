"""GET /workers/tasks/{uuid}: a worker reads tasks it may run or holds; a watched one shows its state only."""

from __future__ import annotations

import pytest

SECRET = {"API_KEY": "s3cr3t"}


class World:
    """alice (group lab: alice Admin, bob Write) and bob, each with a worker, through the test client."""

    def __init__(self, client, sched, users):
        self.client, self.sched = client, sched
        self.alice = users.headers(users.create("alice"))
        self.bob = users.headers(users.create("bob"))
        assert client.post("/groups", json={"group_name": "lab"}, headers=self.alice).status_code == 200
        update = {"relations": {"bob": "Write"}}
        assert client.put("/groups/lab/users", json=update, headers=self.alice).status_code == 200

    def submit(self, headers, group: str, **spec) -> str:
        return self.sched.submit(
            headers, group, timeout="1m", args=["run", "--token", "xyz"], envs=SECRET, **spec
        )["uuid"]

    def worker(self, headers, groups: list[str]) -> dict[str, str]:
        return self.sched.wh(self.sched.register(headers, groups=groups))

    def read(self, worker, uuid: str):
        return self.client.get(f"/workers/tasks/{uuid}", headers=worker)


@pytest.fixture
def world(client, sched, users) -> World:
    return World(client, sched, users)


def test_a_worker_reads_every_field_of_a_task_its_group_may_run(world):
    uuid = world.submit(world.alice, "lab")
    resp = world.read(world.worker(world.bob, ["lab:write"]), uuid)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["spec"]["args"] == ["run", "--token", "xyz"] and body["spec"]["envs"] == SECRET
    assert (body["uuid"], body["state"], body["exec_state"]) == (uuid, "Ready", None)


@pytest.mark.parametrize("groups", [[], ["lab:read"]], ids=["other-group", "read-role"])
def test_a_worker_gets_404_for_a_task_no_group_of_it_may_run(world, groups):
    uuid = world.submit(world.alice, "lab")
    resp = world.read(world.worker(world.bob, groups), uuid)  # bob's own group always; lab only as given
    assert resp.status_code == 404
    body = resp.get_json()
    assert body == {"error": f"Task with uuid {uuid} not found", "msg": f"Task with uuid {uuid} not found"}
    assert "s3cr3t" not in resp.get_data(as_text=True)


def test_the_holder_reads_its_task_after_its_group_left_the_worker(world, client):
    uuid = world.submit(world.bob, "bob")
    worker = world.worker(world.bob, [])
    assert client.get("/workers/tasks", headers=worker).get_json()["uuid"] == uuid
    page = client.post("/workers/query", json={"group_name": "bob"}, headers=world.bob).get_json()
    worker_uuid = page["workers"][0]["worker_id"]
    assert client.post("/groups", json={"group_name": "spare"}, headers=world.bob).status_code == 200
    # bob's group keeps Admin (its creator's), but the claim alone is what lets it read: drop to Read
    relations = {"relations": {"bob": "Read", "spare": "Admin"}}
    assert client.put(f"/workers/{worker_uuid}/groups", json=relations, headers=world.bob).status_code == 200
    resp = world.read(worker, uuid)
    assert resp.status_code == 200 and resp.get_json()["spec"]["envs"] == SECRET


def test_a_watched_task_of_another_group_shows_its_state_and_nothing_else(world, client):
    watched = world.submit(world.alice, "lab")
    alice_worker = world.worker(world.alice, ["lab"])
    claimed = client.get("/workers/tasks", headers=alice_worker).get_json()
    assert claimed["uuid"] == watched
    op = {"id": claimed["id"], "op": {"ExecState": "ExecSpawned"}}
    assert client.post("/workers/tasks", json=op, headers=alice_worker).status_code == 200

    carol = world.worker(world.bob, [])  # serves bob's group only
    assert world.read(carol, watched).status_code == 404  # not yet watching it
    watcher = world.submit(world.bob, "bob", watch=[watched, "ExecSpawned"])
    assert client.get("/workers/tasks", headers=carol).get_json()["uuid"] == watcher

    resp = world.read(carol, watched)
    assert resp.status_code == 200
    assert resp.get_json() == {
        "id": claimed["id"], "uuid": watched, "timeout": "1m", "upstream_task_uuid": None,
        "spec": {"args": []}, "state": "Running", "exec_state": "ExecSpawned",
    }  # fmt: skip
    # the watcher's own task still reads in full
    assert world.read(carol, watcher).get_json()["spec"]["envs"] == SECRET


def test_a_watched_task_that_was_committed_shows_its_final_state(world, client):
    watched = world.submit(world.alice, "lab")
    alice_worker = world.worker(world.alice, ["lab"])
    task_id = client.get("/workers/tasks", headers=alice_worker).get_json()["id"]
    for op in ("Finish", {"Commit": {"exit_status": 0, "msg": None}}):
        assert (
            client.post("/workers/tasks", json={"id": task_id, "op": op}, headers=alice_worker).status_code
            == 200
        )
    carol = world.worker(world.bob, [])
    world.submit(world.bob, "bob", watch=[watched, "ExecSpawned"])
    client.get("/workers/tasks", headers=carol)
    body = world.read(carol, watched).get_json()
    assert (body["state"], body["exec_state"], body["spec"]) == ("Finished", None, {"args": []})
