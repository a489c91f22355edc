"""The result `detail` extension of a worker's Commit, through the Flask test client."""

from __future__ import annotations

import pytest


@pytest.fixture
def cancelled_task(client, users):
    """A task claimed by alice's worker and reported Cancel: (user headers, worker headers, uuid, id)."""
    alice = users.headers(users.create("alice"))
    body = {"group_name": "alice", "tags": [], "labels": [], "timeout": "1m", "priority": 0,
            "task_spec": {"args": ["true"]}}  # fmt: skip
    uuid = client.post("/tasks", json=body, headers=alice).get_json()["uuid"]
    token = client.post("/workers", json={"tags": [], "groups": []}, headers=alice).get_json()["token"]
    worker = {"Authorization": f"Bearer {token}"}
    task_id = client.get("/workers/tasks", headers=worker).get_json()["id"]
    assert (
        client.post("/workers/tasks", json={"id": task_id, "op": "Cancel"}, headers=worker).status_code == 200
    )
    return alice, worker, uuid, task_id


def _commit(client, worker, task_id, result):
    return client.post("/workers/tasks", json={"id": task_id, "op": {"Commit": result}}, headers=worker)


def test_a_commit_detail_is_kept_and_returned_by_get_and_query(client, cancelled_task):
    alice, worker, uuid, task_id = cancelled_task
    result = {"exit_status": 0, "msg": "ResourceNotFound", "detail": "attachment 'in/x.csv' not found"}
    assert _commit(client, worker, task_id, result).status_code == 200
    assert client.get(f"/tasks/{uuid}", headers=alice).get_json()["info"]["result"] == result
    tasks = client.post("/tasks/query", json={"group_name": "alice"}, headers=alice).get_json()["tasks"]
    assert [t["result"] for t in tasks] == [result]


def test_a_commit_without_detail_keeps_the_spec_shape(client, cancelled_task):
    alice, worker, uuid, task_id = cancelled_task
    assert _commit(client, worker, task_id, {"exit_status": 0, "msg": "UserCancellation"}).status_code == 200
    result = client.get(f"/tasks/{uuid}", headers=alice).get_json()["info"]["result"]
    assert result == {"exit_status": 0, "msg": "UserCancellation"}


def test_a_detail_over_4096_characters_is_400_and_the_task_stays_uncommitted(client, cancelled_task):
    alice, worker, uuid, task_id = cancelled_task
    resp = _commit(
        client, worker, task_id, {"exit_status": 0, "msg": "ResourceNotFound", "detail": "x" * 4097}
    )
    assert resp.status_code == 400
    body = resp.get_json()
    assert body["error"] == body["msg"] and "detail" in str(body["errors"])
    info = client.get(f"/tasks/{uuid}", headers=alice).get_json()["info"]
    assert (info["state"], info["result"]) == ("Cancelled", None)


def test_a_fetched_task_carries_its_tags(client, users):
    alice = users.headers(users.create("alice"))
    body = {"group_name": "alice", "tags": ["exclusive", "gpu"], "labels": [], "timeout": "1m", "priority": 0,
            "task_spec": {"args": ["true"]}}  # fmt: skip
    client.post("/tasks", json=body, headers=alice)
    reg = {"tags": ["exclusive", "gpu", "x"], "groups": []}
    token = client.post("/workers", json=reg, headers=alice).get_json()["token"]
    task = client.get("/workers/tasks", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert sorted(task["tags"]) == ["exclusive", "gpu"]
