"""Task operations: submit, batch submit, get, update, labels, cancel (single, filter, uuids)."""

from __future__ import annotations

import sqlalchemy as sa

from app import db
from app.models import ActiveTask, ArchivedTask, Group


def _counts(app):
    with app.app_context():
        return (
            db.session.scalar(sa.select(sa.func.count()).select_from(ActiveTask)),
            db.session.scalar(sa.select(sa.func.count()).select_from(ArchivedTask)),
            db.session.scalar(sa.select(sa.func.sum(Group.task_count))),
        )


def _error(resp, status):
    assert resp.status_code == status, resp.get_json()
    body = resp.get_json()
    assert body["error"] == body["msg"]
    return body


def _body(group="alice", **over):
    body = {
        "group_name": group,
        "tags": [],
        "labels": [],
        "timeout": "10m",
        "priority": 0,
        "task_spec": {"args": ["true"]},
    }
    body.update(over)
    return body


# ---------------------------------------------------------------- submit


def test_submit_task_in_own_group_returns_task_id_and_uuid(sched, alice, client, app):
    first = sched.submit(alice, "alice", tags=["gpu"], labels=["exp"], priority=3, timeout="1h 30m")
    second = sched.submit(alice, "alice")
    assert (first["task_id"], second["task_id"]) == (1, 2)
    info = client.get(f"/tasks/{first['uuid']}", headers=alice).get_json()["info"]
    assert info["state"] == "Ready"
    assert info["timeout"] == 5400
    assert (info["tags"], info["labels"], info["priority"]) == (["gpu"], ["exp"], 3)
    assert info["spec"] == {
        "args": ["true"],
        "envs": {},
        "resources": [],
        "terminal_output": False,
        "watch": None,
    }


def test_submit_task_as_write_member_allowed_read_member_refused(sched, alice, bob, users, app):
    carol = users.headers(users.create("carol"))
    sched.group(alice, "team", {"bob": "Write", "carol": "Read"})
    sched.submit(bob, "team")
    before = _counts(app)
    _error(sched.client.post("/tasks", json=_body("team"), headers=carol), 403)
    assert _counts(app) == before


def test_submit_task_to_foreign_group_is_403_and_unknown_group_404(sched, alice, bob, client, app):
    before = _counts(app)
    _error(client.post("/tasks", json=_body("bob"), headers=alice), 403)
    _error(client.post("/tasks", json=_body("nosuchgroup"), headers=alice), 404)
    assert _counts(app) == before


def test_submit_task_without_token_is_401(client):
    _error(client.post("/tasks", json=_body()), 401)


def test_submit_task_bad_input_is_400_and_changes_nothing(alice, client, app):
    before = _counts(app)
    bad = [
        _body(timeout="10"),
        _body(timeout=600),
        _body(priority="high"),
        _body(priority=2**31),
        _body(task_spec={"args": []}),
        _body(task_spec={"args": ["x"], "unknown": 1}),
        _body(extra=True),
        _body(
            task_spec={
                "args": ["x"],
                "resources": [{"remote_file": {"Attachment": {"key": "k"}}, "local_path": "/etc/x"}],
            }
        ),
        _body(
            task_spec={
                "args": ["x"],
                "resources": [{"remote_file": {"Attachment": {"key": "k"}}, "local_path": "a/../../x"}],
            }
        ),
        _body(task_spec={"args": ["x"], "resources": [{"remote_file": {"Nope": {}}, "local_path": "x"}]}),
        _body(task_spec={"args": ["x"], "watch": ["not-a-uuid", "ExecSpawned"]}),
        _body(task_spec={"args": ["x"], "watch": ["123e4567-e89b-12d3-a456-426614174000", "Sleeping"]}),
        _body(task_spec={"args": ["x"], "watch": ["123e4567-e89b-12d3-a456-426614174000"]}),
    ]
    for body in bad:
        _error(client.post("/tasks", json=body, headers=alice), 400)
    assert _counts(app) == before


def test_submit_task_normalises_resources_and_watch(sched, alice, client):
    watched = sched.submit(alice, "alice")["uuid"]
    spec = {
        "args": ["run"],
        "resources": [
            {
                "remote_file": {"Artifact": {"uuid": watched, "content_type": "ExecLog"}},
                "local_path": "in/log.tgz",
            },
            {"remote_file": {"Attachment": {"key": "data/x"}}, "local_path": "x"},
        ],
        "watch": [watched, "ExecSpawned"],
        "envs": {"A": "1"},
        "terminal_output": True,
    }
    uuid = sched.submit(alice, "alice", **{k: v for k, v in spec.items() if k != "args"}, args=["run"])[
        "uuid"
    ]
    stored = client.get(f"/tasks/{uuid}", headers=alice).get_json()["info"]["spec"]
    assert stored["resources"][0]["remote_file"] == {
        "Artifact": {"uuid": watched, "content_type": "exec-log"}
    }
    assert stored["watch"] == [watched, "ExecSpawned"]
    assert stored["envs"] == {"A": "1"} and stored["terminal_output"] is True


def test_batch_submit_returns_ok_or_err_per_item_in_order(alice, client, app):
    items = [_body(), _body("bob"), _body(timeout="bad"), _body(priority=7)]
    resp = client.post("/tasks/submit", json={"tasks": items}, headers=alice)
    assert resp.status_code == 200
    results = resp.get_json()["results"]
    assert [next(iter(r)) for r in results] == ["Ok", "Err", "Err", "Ok"]
    assert results[0]["Ok"]["task_id"] == 1 and results[3]["Ok"]["task_id"] == 2
    assert "not found" in results[1]["Err"]["msg"]
    assert _counts(app)[0] == 2


def test_batch_submit_empty_or_malformed_is_400(alice, client, app):
    before = _counts(app)
    _error(client.post("/tasks/submit", json={"tasks": []}, headers=alice), 400)
    _error(client.post("/tasks/submit", json={}, headers=alice), 400)
    assert _counts(app) == before


# ---------------------------------------------------------------- get


def test_get_task_allowed_for_members_and_admin_refused_otherwise(
    sched, alice, bob, users, admin_headers, client
):
    carol = users.headers(users.create("carol"))
    sched.group(alice, "team", {"carol": "Read"})
    uuid = sched.submit(alice, "team")["uuid"]
    assert client.get(f"/tasks/{uuid}", headers=carol).status_code == 200
    assert client.get(f"/tasks/{uuid}", headers=admin_headers).status_code == 200
    body = client.get(f"/tasks/{uuid}", headers=alice).get_json()
    assert body["artifacts"] == [] and body["info"]["group_name"] == "team"
    _error(client.get(f"/tasks/{uuid}", headers=bob), 403)


def test_get_unknown_task_is_404(alice, client):
    _error(client.get("/tasks/123e4567-e89b-12d3-a456-426614174000", headers=alice), 404)


# ---------------------------------------------------------------- update


def test_update_ready_task_changes_fields(sched, alice, client):
    uuid = sched.submit(alice, "alice", tags=["a"])["uuid"]
    body = {"tags": ["b", "c"], "timeout": "2h", "priority": 9, "task_spec": {"args": ["echo", "hi"]}}
    assert client.put(f"/tasks/{uuid}", json=body, headers=alice).status_code == 200
    info = client.get(f"/tasks/{uuid}", headers=alice).get_json()["info"]
    assert (info["tags"], info["timeout"], info["priority"], info["spec"]["args"]) == (
        ["b", "c"],
        7200,
        9,
        ["echo", "hi"],
    )


def test_update_task_refusals(sched, alice, bob, users, client):
    carol = users.headers(users.create("carol"))
    sched.group(alice, "team", {"carol": "Read"})
    uuid = sched.submit(alice, "team")["uuid"]
    _error(client.put(f"/tasks/{uuid}", json={}, headers=alice), 400)
    _error(client.put(f"/tasks/{uuid}", json={"priority": "x"}, headers=alice), 400)
    _error(client.put(f"/tasks/{uuid}", json={"priority": 1}, headers=carol), 403)
    _error(client.put(f"/tasks/{uuid}", json={"priority": 1}, headers=bob), 403)
    _error(
        client.put("/tasks/123e4567-e89b-12d3-a456-426614174000", json={"priority": 1}, headers=alice), 404
    )
    assert client.get(f"/tasks/{uuid}", headers=alice).get_json()["info"]["priority"] == 0


def test_update_running_task_is_409(sched, alice, client):
    uuid = sched.submit(alice, "alice")["uuid"]
    sched.fetch(sched.register(alice))
    _error(client.put(f"/tasks/{uuid}", json={"priority": 1}, headers=alice), 409)


# ---------------------------------------------------------------- labels


def test_update_labels_on_active_and_archived_tasks(sched, alice, client, users):
    carol = users.headers(users.create("carol"))
    uuid = sched.submit(alice, "alice", labels=["x"])["uuid"]
    assert client.put(f"/tasks/{uuid}/labels", json={"labels": ["y", "z"]}, headers=alice).status_code == 200
    assert client.get(f"/tasks/{uuid}", headers=alice).get_json()["info"]["labels"] == ["y", "z"]
    assert client.delete(f"/tasks/{uuid}", headers=alice).status_code == 200
    assert client.put(f"/tasks/{uuid}/labels", json={"labels": []}, headers=alice).status_code == 200
    assert client.get(f"/tasks/{uuid}", headers=alice).get_json()["info"]["labels"] == []
    _error(client.put(f"/tasks/{uuid}/labels", json={"labels": ["q"]}, headers=carol), 403)
    _error(client.put(f"/tasks/{uuid}/labels", json={"labels": "q"}, headers=alice), 400)


# ---------------------------------------------------------------- cancel


def test_cancel_ready_task_archives_it_with_user_cancellation(sched, alice, client, app):
    uuid = sched.submit(alice, "alice")["uuid"]
    assert client.delete(f"/tasks/{uuid}", headers=alice).status_code == 200
    info = client.get(f"/tasks/{uuid}", headers=alice).get_json()["info"]
    assert info["state"] == "Cancelled"
    assert info["result"] == {"exit_status": 0, "msg": "UserCancellation"}
    assert _counts(app)[:2] == (0, 1)
    _error(client.delete(f"/tasks/{uuid}", headers=alice), 409)


def test_cancel_running_task_marks_it_and_heartbeat_tells_the_agent(sched, alice, client):
    uuid = sched.submit(alice, "alice")["uuid"]
    w = sched.register(alice)
    task = sched.fetch(w)
    assert client.post("/workers/heartbeat", headers=sched.wh(w)).get_json() == {"cancel": []}
    assert client.delete(f"/tasks/{uuid}", headers=alice).status_code == 200
    assert client.get(f"/tasks/{uuid}", headers=alice).get_json()["info"]["state"] == "Running"
    assert client.post("/workers/heartbeat", headers=sched.wh(w)).get_json() == {"cancel": [uuid]}
    sched.report(w, task["id"], "Cancel")
    _error(client.delete(f"/tasks/{uuid}", headers=alice), 409)
    sched.report(w, task["id"], {"Commit": {"exit_status": 0, "msg": "UserCancellation"}})
    info = client.get(f"/tasks/{uuid}", headers=alice).get_json()["info"]
    assert (info["state"], info["result"]["msg"]) == ("Cancelled", "UserCancellation")


def test_cancel_task_refused_for_read_member_and_stranger(sched, alice, bob, users, client, app):
    carol = users.headers(users.create("carol"))
    sched.group(alice, "team", {"carol": "Read"})
    uuid = sched.submit(alice, "team")["uuid"]
    _error(client.delete(f"/tasks/{uuid}", headers=carol), 403)
    _error(client.delete(f"/tasks/{uuid}", headers=bob), 403)
    _error(client.delete("/tasks/123e4567-e89b-12d3-a456-426614174000", headers=alice), 404)
    assert _counts(app)[:2] == (1, 0)


def test_cancel_by_filter_cancels_matching_tasks_only(sched, alice, client, app):
    keep = sched.submit(alice, "alice", labels=["keep"])["uuid"]
    for _ in range(3):
        sched.submit(alice, "alice", labels=["drop"])
    resp = client.post("/tasks/cancel", json={"labels": ["drop"]}, headers=alice)
    assert resp.get_json() == {"cancelled_count": 3, "group_name": "alice"}
    assert _counts(app)[:2] == (1, 3)
    assert client.get(f"/tasks/{keep}", headers=alice).get_json()["info"]["state"] == "Ready"
    resp = client.post("/tasks/cancel", json={"states": ["Finished"]}, headers=alice)
    assert resp.get_json()["cancelled_count"] == 0


def test_cancel_by_filter_refusals(sched, alice, users, client, app):
    carol = users.headers(users.create("carol"))
    sched.group(alice, "team", {"carol": "Read"})
    sched.submit(alice, "team")
    _error(client.post("/tasks/cancel", json={"group_name": "team"}, headers=carol), 403)
    _error(client.post("/tasks/cancel", json={"group_name": "team", "tags": []}, headers=alice), 400)
    _error(client.post("/tasks/cancel", json={"group_name": "team", "priority": ">>1"}, headers=alice), 400)
    assert _counts(app)[:2] == (1, 0)


def test_cancel_by_uuids_reports_failures(sched, alice, bob, client, app):
    mine = sched.submit(alice, "alice")["uuid"]
    theirs = sched.submit(bob, "bob")["uuid"]
    missing = "123e4567-e89b-12d3-a456-426614174000"
    resp = client.post("/tasks/cancel/list", json={"uuids": [mine, theirs, missing]}, headers=alice)
    assert resp.get_json() == {"cancelled_count": 1, "failed_uuids": [theirs, missing]}
    _error(client.post("/tasks/cancel/list", json={"uuids": []}, headers=alice), 400)
    assert _counts(app)[:2] == (1, 1)
