"""Task queries: one ordered result set over active and archived tasks, filters, count and paging."""

from __future__ import annotations

import pytest


@pytest.fixture
def populated(sched, alice):
    """Tasks in every interesting place: archived (exit 0, 256, -9), running, ready; priorities, labels."""
    w = sched.register(alice, tags=["t"])
    done = {}
    for name, status, prio in (("ok", 0, 1), ("fail", 256, 7), ("killed", -9, 10)):
        done[name] = sched.submit(alice, "alice", tags=["t"], labels=["batch", name], priority=prio)["uuid"]
        sched.run(w, exit_status=status)
    running = sched.submit(alice, "alice", tags=["t"], labels=["batch", "run"], priority=6)["uuid"]
    sched.fetch(w)
    ready = sched.submit(alice, "alice", tags=["u"], labels=["other"], priority=9)["uuid"]
    low = sched.submit(alice, "alice", tags=["u"], labels=["batch"], priority=0)["uuid"]
    return {**done, "running": running, "ready": ready, "low": low, "worker": w}


def _query(client, headers, **body):
    resp = client.post("/tasks/query", json=body, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _uuids(resp):
    return [t["uuid"] for t in resp["tasks"]]


def test_query_returns_active_and_archived_newest_first(populated, alice, client):
    resp = _query(client, alice)
    order = ["low", "ready", "running", "killed", "fail", "ok"]
    assert _uuids(resp) == [populated[n] for n in order]
    assert resp["count"] == 6 and resp["group_name"] == "alice"
    archived = next(t for t in resp["tasks"] if t["uuid"] == populated["ok"])
    assert archived["reporter_uuid"] == populated["worker"]["worker_id"]
    assert archived["result"] == {"exit_status": 0, "msg": None}
    assert archived["timeout"] == 600 and archived["creator_username"] == "alice"


def test_query_by_states(populated, alice, client):
    assert set(_uuids(_query(client, alice, states=["Ready", "Running"]))) == {
        populated["ready"],
        populated["low"],
        populated["running"],
    }
    assert set(_uuids(_query(client, alice, states=["Finished"]))) == {
        populated[n] for n in ("ok", "fail", "killed")
    }


def test_query_by_labels_and_tags_contains_all(populated, alice, client):
    assert set(_uuids(_query(client, alice, labels=["batch", "fail"]))) == {populated["fail"]}
    assert len(_query(client, alice, labels=["batch"])["tasks"]) == 5
    assert set(_uuids(_query(client, alice, tags=["u"]))) == {populated["ready"], populated["low"]}


def test_query_exit_status_compares_numbers_on_archived_tasks_only(populated, alice, client):
    assert set(_uuids(_query(client, alice, exit_status="!=0"))) == {populated["fail"], populated["killed"]}
    assert set(_uuids(_query(client, alice, exit_status="0"))) == {populated["ok"]}
    assert set(_uuids(_query(client, alice, exit_status=">=100"))) == {populated["fail"]}
    assert set(_uuids(_query(client, alice, exit_status="<0"))) == {populated["killed"]}


def test_query_priority_expression(populated, alice, client):
    expected = {populated[n] for n in ("fail", "killed", "running", "ready")}
    assert set(_uuids(_query(client, alice, priority=">5"))) == expected
    assert set(_uuids(_query(client, alice, priority="=0"))) == {populated["low"]}
    assert set(_uuids(_query(client, alice, priority="<=1"))) == {populated["ok"], populated["low"]}


def test_query_reporter_uuid_and_creators(populated, alice, client):
    reporter = populated["worker"]["worker_id"]
    assert len(_query(client, alice, reporter_uuid=reporter)["tasks"]) == 3
    assert len(_query(client, alice, creator_usernames=["alice", "nobody"])["tasks"]) == 6
    assert _query(client, alice, creator_usernames=["nobody"])["tasks"] == []


def test_query_count_ignores_limit_and_offset_and_pages_are_one_ordered_set(populated, alice, client):
    assert _query(client, alice, count=True, limit=1, offset=2) == {
        "count": 6,
        "tasks": [],
        "group_name": "alice",
    }
    assert _query(client, alice, count=True, labels=["batch"])["count"] == 5
    everything = _uuids(_query(client, alice))
    pages = [_uuids(_query(client, alice, limit=4, offset=off)) for off in (0, 4)]
    assert pages[0] + pages[1] == everything and len(pages[0]) == 4


def test_query_bad_filters_are_400(populated, alice, client):
    for body in ({"states": []}, {"tags": []}, {"labels": []}, {"creator_usernames": []}, {"priority": "> 5"},
                 {"exit_status": "abc"}, {"priority": "99999999999"}, {"states": ["Sleeping"]}, {"limit": -1},
                 {"bogus": 1}):  # fmt: skip
        resp = client.post("/tasks/query", json=body, headers=alice)
        assert resp.status_code == 400, body
        assert resp.get_json()["msg"]


def test_query_other_group_needs_membership(populated, sched, alice, bob, admin_headers, client):
    sched.group(alice, "team", {"bob": "Read"})
    sched.submit(alice, "team")
    assert len(_query(client, bob, group_name="team")["tasks"]) == 1
    assert client.post("/tasks/query", json={"group_name": "alice"}, headers=bob).status_code == 403
    assert len(_query(client, admin_headers, group_name="alice")["tasks"]) == 6
    assert client.post("/tasks/query", json={"group_name": "nope"}, headers=bob).status_code == 404
