"""Campaigns API (extension, tag Campaigns) through the Flask test client: bodies, statuses, permissions and
bad input (a clear 400 in the error shape, and nothing submitted)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import db_snapshot

SPEC = {"args": ["iperf3", "-c", "host", "-b", "{rate}M", "-n", "{size}"], "envs": {"SIZE": "{size}"}}
GRID = [{"name": "rate", "values": ["10", "20", "50"]}, {"name": "size", "values": ["1k", "1M"]}]


def body(**fields: Any) -> dict[str, Any]:
    """A CreateCampaignReq for alice's group: the 3x2 iperf3 sweep unless told otherwise."""
    return {"group_name": "alice", "parameters": GRID, "task": {"task_spec": SPEC}} | fields


@pytest.fixture
def sweep(client, alice):
    resp = client.post("/campaigns", json=body(name="iperf", repeat=2), headers=alice)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_create_answers_the_campaign_and_submits_its_tasks(client, alice, sweep):
    assert {k: sweep[k] for k in ("name", "group_name", "creator_username", "task_count", "repeat")} == {
        "name": "iperf", "group_name": "alice", "creator_username": "alice", "task_count": 12, "repeat": 2,
    }  # fmt: skip
    assert sweep["parameter_names"] == ["rate", "size"]
    page = client.post("/tasks/query", json={"group_name": "alice"}, headers=alice).get_json()
    assert page["count"] == 12
    oldest = page["tasks"][-1]
    assert oldest["spec"]["args"] == ["iperf3", "-c", "host", "-b", "10M", "-n", "1k"]
    assert oldest["spec"]["envs"] == {"SIZE": "1k"}
    assert oldest["labels"] == ["rate=10", "size=1k"]
    assert oldest["campaign"] == {"name": "iperf", "params": {"rate": "10", "size": "1k"}, "repeat": 1}
    small = client.post("/tasks/query", json={"group_name": "alice", "limit": 2, "offset": 10}, headers=alice)
    assert small.get_json()["tasks"] == page["tasks"][10:]  # a small page reads its rows in its walk
    detail = client.get(f"/tasks/{page['tasks'][0]['uuid']}", headers=alice).get_json()
    assert detail["info"]["campaign"] == {
        "name": "iperf",
        "params": {"rate": "50", "size": "1M"},
        "repeat": 2,
    }


def test_a_task_of_no_campaign_keeps_the_spec_shape(client, alice):
    made = client.post("/tasks", json={"group_name": "alice", "task_spec": {"args": ["true"]}}, headers=alice)
    info = client.get(f"/tasks/{made.get_json()['uuid']}", headers=alice).get_json()["info"]
    assert "campaign" not in info


def test_get_returns_the_grid_and_the_template(client, alice, sweep):
    resp = client.get("/campaigns/alice/iperf", headers=alice)
    assert resp.status_code == 200
    got = resp.get_json()
    assert got["parameters"] == GRID and got["points"] is None and got["uuid"] == sweep["uuid"]
    assert got["task"]["task_spec"]["args"] == SPEC["args"] and got["task"]["timeout"] == "10m"


def test_points_from_rows_are_recorded_and_combined(client, alice):
    rows = {"names": ["host", "port"], "rows": [["a", "1"], ["b", "2"]]}
    spec = {"args": ["ping", "{host}:{port}", "{rate}"]}
    resp = client.post(
        "/campaigns",
        json={
            "group_name": "alice",
            "name": "rows",
            "points": rows,
            "parameters": GRID[:1],
            "task": {"task_spec": spec},
        },
        headers=alice,
    )
    assert resp.status_code == 200 and resp.get_json()["task_count"] == 6
    got = client.get("/campaigns/alice/rows", headers=alice).get_json()
    assert got["points"] == rows and got["parameter_names"] == ["host", "port", "rate"]


def test_status_counts_a_new_campaign(client, alice, sweep):
    resp = client.get("/campaigns/alice/iperf/status", headers=alice)
    assert resp.status_code == 200
    assert resp.get_json() == {
        "name": "iperf", "group_name": "alice", "task_count": 12,
        "counts": {"Pending": 0, "Ready": 12, "Running": 0, "Finished": 0, "Cancelled": 0},
        "outcomes": {"succeeded": 0, "failed": 0, "cancelled": 0},
        "committed": 0, "done": False, "failures": [],
    }  # fmt: skip


def test_tasks_are_paged_with_a_cursor(client, alice, sweep):
    first = client.get("/campaigns/alice/iperf/tasks?limit=5", headers=alice).get_json()
    assert [t["task_id"] for t in first["tasks"]] == [1, 2, 3, 4, 5] and first["next_cursor"]
    assert (
        first["tasks"][0]["params"] == {"rate": "10", "size": "1k"} and first["tasks"][0]["state"] == "Ready"
    )
    assert first["tasks"][0]["outcome"] is None and first["tasks"][0]["result_size"] is None
    rest = client.get(f"/campaigns/alice/iperf/tasks?limit=10&cursor={first['next_cursor']}", headers=alice)
    assert [t["task_id"] for t in rest.get_json()["tasks"]] == list(range(6, 13))
    assert rest.get_json()["next_cursor"] is None


def test_list_names_the_groups_campaigns(client, alice, sweep):
    client.post("/campaigns", json=body(name="second"), headers=alice)
    resp = client.get("/campaigns", headers=alice)  # default: the caller's personal group
    assert resp.status_code == 200
    got = resp.get_json()
    assert [c["name"] for c in got["campaigns"]] == ["second", "iperf"] and got["next_cursor"] is None
    assert got["group_name"] == "alice" and "parameters" not in got["campaigns"][0]


def test_cancel_cancels_every_waiting_task(client, alice, sweep):
    resp = client.post("/campaigns/alice/iperf/cancel", headers=alice)
    assert resp.status_code == 200
    assert resp.get_json() == {"name": "iperf", "group_name": "alice", "cancelled_count": 12}
    status = client.get("/campaigns/alice/iperf/status", headers=alice).get_json()
    assert status["outcomes"] == {"succeeded": 0, "failed": 0, "cancelled": 12} and status["done"] is True


def test_a_taken_name_is_409(client, alice, sweep, app):
    before = db_snapshot(app)
    resp = client.post("/campaigns", json=body(name="iperf"), headers=alice)
    assert resp.status_code == 409 and "already exists" in resp.get_json()["msg"]
    assert db_snapshot(app) == before


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"parameters": [{"name": "rate", "values": []}]}, "rate has an empty value list"),
        ({"task": {"task_spec": {"args": ["run", "{sise}"]}}}, "Unknown placeholder {sise}"),
        (
            {
                "parameters": [{"name": "a", "values": [str(i) for i in range(400)]}] * 1
                + [{"name": "b", "values": [str(i) for i in range(300)]}],
                "task": {"task_spec": {"args": ["t"]}},
            },
            "120,000 tasks",
        ),
        ({"repeat": 0}, "repeat"),
        ({"name": "bad name"}, "campaign name"),
        ({"name": "-x"}, "campaign name"),
        ({"parameters": [{"name": "rate", "values": [10, 20]}]}, "values"),
        ({"parameters": [{"name": "9lives", "values": ["1"]}]}, "not a valid name"),
        ({"points": {"names": ["host"], "rows": []}}, "points.rows is empty"),
        ({"points": {"names": ["host"], "rows": [["a"], ["b", "c"]]}}, "Point 2 has 2 values"),
        ({"points": [{"host": "a"}]}, "points"),
        ({"task": {"task_spec": {"args": []}}}, "args"),
        ({"task": {"group_name": "alice", "task_spec": SPEC}}, "group_name"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_400_and_submits_nothing(client, alice, app, fields, says):
    before = db_snapshot(app)
    resp = client.post("/campaigns", json=body(**fields), headers=alice)
    assert resp.status_code == 400, resp.get_json()
    error = resp.get_json()
    assert error["error"] == error["msg"] and says in str(error)
    assert db_snapshot(app) == before


def test_the_limit_is_named_in_the_refusal(client, alice):
    grid = [{"name": "a", "values": [str(i) for i in range(100_001)]}]
    resp = client.post(
        "/campaigns", json=body(parameters=grid, task={"task_spec": {"args": ["t"]}}), headers=alice
    )
    assert (
        resp.status_code == 400 and "over the limit of 100,000 tasks per campaign" in resp.get_json()["msg"]
    )


def test_an_unknown_group_is_404(client, alice):
    resp = client.post("/campaigns", json=body(group_name="nowhere"), headers=alice)
    assert resp.status_code == 404 and resp.get_json()["msg"] == "Group nowhere not found"


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/campaigns"), ("get", "/campaigns"), ("get", "/campaigns/alice/iperf"),
        ("get", "/campaigns/alice/iperf/status"), ("get", "/campaigns/alice/iperf/tasks"),
        ("post", "/campaigns/alice/iperf/cancel"),
    ],
)  # fmt: skip
def test_without_a_token_every_campaign_route_is_401(client, alice, sweep, method, url):
    resp = getattr(client, method)(url, json={} if method == "post" else None)
    assert resp.status_code == 401, url


@pytest.fixture
def lab(client, users, alice):
    """Group lab: alice Admin, rita Read; eve outside."""
    users.create("rita")
    users.create("eve")
    assert client.post("/groups", json={"group_name": "lab"}, headers=alice).status_code == 200
    relations = {"relations": {"rita": "Read"}}
    assert client.put("/groups/lab/users", json=relations, headers=alice).status_code == 200
    made = client.post("/campaigns", json=body(group_name="lab", name="s"), headers=alice)
    assert made.status_code == 200
    return users


@pytest.mark.parametrize(("who", "status"), [("alice", 200), ("rita", 403), ("eve", 403)])
def test_create_needs_write_in_the_group(client, lab, who, status):
    resp = client.post("/campaigns", json=body(group_name="lab", name="t"), headers=lab.headers(who))
    assert resp.status_code == status


@pytest.mark.parametrize(
    ("who", "status"), [("alice", 200), ("rita", 200), ("eve", 403), ("mitosis_admin", 200)]
)
@pytest.mark.parametrize("path", ["", "/status", "/tasks"])
def test_reads_need_membership_or_site_admin(client, lab, who, status, path):
    assert client.get(f"/campaigns/lab/s{path}", headers=lab.headers(who)).status_code == status


@pytest.mark.parametrize(
    ("who", "status"), [("alice", 200), ("rita", 200), ("eve", 403), ("mitosis_admin", 200)]
)
def test_list_needs_membership(client, lab, who, status):
    assert client.get("/campaigns?group_name=lab", headers=lab.headers(who)).status_code == status


@pytest.mark.parametrize(
    ("who", "status"), [("alice", 200), ("rita", 403), ("eve", 403), ("mitosis_admin", 403)]
)
def test_cancel_needs_write(client, lab, who, status):
    assert client.post("/campaigns/lab/s/cancel", headers=lab.headers(who)).status_code == status


def test_an_unknown_campaign_is_404(client, lab):
    resp = client.get("/campaigns/lab/nope/status", headers=lab.headers("rita"))
    assert resp.status_code == 404 and resp.get_json()["msg"] == "Campaign nope not found in group lab"


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "limit=x", "cursor=abc", "cursor=-1"])
def test_bad_page_arguments_are_400(client, alice, sweep, query):
    for url in (f"/campaigns?{query}", f"/campaigns/alice/iperf/tasks?{query}"):
        resp = client.get(url, headers=alice)
        assert resp.status_code == 400, (url, resp.get_json())
        assert set(resp.get_json()) >= {"error", "msg"}


def _run_all(client, users, group: str, exit_of) -> None:
    """One worker of `group` runs every task, committing `exit_of(task)` for each."""
    token = client.post("/workers", json={"tags": [], "groups": [group]}, headers=users.headers("alice"))
    worker = {"Authorization": f"Bearer {token.get_json()['token']}"}
    while (resp := client.get("/workers/tasks", headers=worker)).status_code == 200:
        task = resp.get_json()
        client.post("/workers/tasks", json={"id": task["id"], "op": "Finish"}, headers=worker)
        commit = {"Commit": {"exit_status": exit_of(task), "msg": None}}
        assert (
            client.post("/workers/tasks", json={"id": task["id"], "op": commit}, headers=worker).status_code
            == 200
        )


def test_retry_reruns_only_the_failed_points_keeping_their_tasks(client, users, alice, sweep):
    _run_all(client, users, "alice", lambda task: 1 if "20M" in task["spec"]["args"] else 0)
    status = client.get("/campaigns/alice/iperf/status", headers=alice).get_json()
    assert status["outcomes"] == {"succeeded": 8, "failed": 4, "cancelled": 0}
    failed = {f["uuid"] for f in status["failures"]}
    resp = client.post("/campaigns/alice/iperf/retry", json={}, headers=alice)
    assert resp.get_json() == {"name": "iperf", "group_name": "alice", "retried_count": 4}
    page = client.post("/tasks/query", json={"group_name": "alice", "states": ["Ready"]}, headers=alice)
    assert {t["uuid"] for t in page.get_json()["tasks"]} == failed
    _run_all(client, users, "alice", lambda task: 0)
    status = client.get("/campaigns/alice/iperf/status", headers=alice).get_json()
    assert status["outcomes"] == {"succeeded": 12, "failed": 0, "cancelled": 0} and status["done"] is True
    some = client.get(f"/tasks/{failed.pop()}", headers=alice).get_json()
    assert [(a["number"], a["exit_status"]) for a in some["attempts"]] == [(1, 1), (2, 0)]


def test_retry_with_nothing_to_retry_is_400(client, alice, sweep):
    resp = client.post("/campaigns/alice/iperf/retry", json={"failed": False}, headers=alice)
    assert resp.status_code == 400 and "Nothing to retry" in resp.get_json()["msg"]


@pytest.mark.parametrize(
    ("who", "status"), [("alice", 200), ("rita", 403), ("eve", 403), ("mitosis_admin", 403)]
)
def test_retry_needs_write(client, lab, who, status):
    assert client.post("/campaigns/lab/s/retry", json={}, headers=lab.headers(who)).status_code == status
