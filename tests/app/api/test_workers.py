"""Worker operations: registration, tokens, queries, management permissions, shutdowns, heartbeats."""

from __future__ import annotations

import uuid as uuid_mod
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from app import db
from app.models import GroupWorker, Worker
from tests.conftest import BACKEND

MISSING = "123e4567-e89b-12d3-a456-426614174000"


def _workers(app):
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Worker))


def _roles(app, worker_id):
    from app.models import Group

    with app.app_context():
        rows = db.session.execute(
            sa.select(Group.group_name, GroupWorker.role)
            .join(Group, Group.id == GroupWorker.group_id)
            .join(Worker, Worker.id == GroupWorker.worker_id)
            .where(Worker.uuid == uuid_mod.UUID(worker_id))
        ).all()
        return {name: role.name for name, role in rows}


def _error(resp, status):
    assert resp.status_code == status, resp.get_json()
    body = resp.get_json()
    assert body["error"] == body["msg"]


def test_register_gives_personal_group_admin_and_named_roles(sched, alice, bob, app, client):
    sched.group(bob, "team", {"alice": "Write"})
    w = sched.register(
        alice, tags=["gpu"], groups=["team:read", "alice:read"], labels=["rack1"], lifetime="2h"
    )
    assert _roles(app, w["worker_id"]) == {"alice": "Admin", "team": "Read"}
    assert w["redis_url"] is None
    with app.app_context():
        worker = db.session.scalar(sa.select(Worker).where(Worker.uuid == uuid_mod.UUID(w["worker_id"])))
        assert (worker.tags, worker.labels) == (["gpu"], ["rack1"])
        assert abs(worker.expires_at - (datetime.now(UTC) + timedelta(hours=2))) < timedelta(minutes=1)
    assert client.post("/workers/heartbeat", headers=sched.wh(w)).status_code == 200


def test_register_default_group_role_is_write(sched, alice, bob, app):
    sched.group(bob, "team", {"alice": "Admin"})
    w = sched.register(alice, groups=["team"])
    assert _roles(app, w["worker_id"])["team"] == "Write"


def test_register_refusals_change_nothing(sched, alice, bob, users, app):
    carol = users.headers(users.create("carol"))
    sched.group(bob, "team", {"carol": "Read"})
    before = _workers(app)
    sched.register(alice, groups=["team"], expect=403)
    sched.register(carol, groups=["team"], expect=403)
    sched.register(alice, groups=["nosuch"], expect=400)
    sched.register(alice, groups=["alice:boss"], expect=400)
    sched.register(alice, groups=["a:b:c"], expect=400)
    sched.register(alice, lifetime="forever", expect=400)
    sched.register(alice, lifetime="0s", expect=400)
    _error(sched.client.post("/workers", json={"groups": []}, headers=alice), 400)
    _error(sched.client.post("/workers", json={"tags": [], "groups": []}), 401)
    assert _workers(app) == before


def test_register_returns_configured_redis_url(sched, alice, app):
    app.config["REDIS_WORKER_URL"] = "redis://worker@example:6379/0"
    try:
        assert sched.register(alice)["redis_url"] == "redis://worker@example:6379/0"
    finally:
        app.config["REDIS_WORKER_URL"] = None


def test_user_and_worker_tokens_are_not_interchangeable(sched, alice, client):
    w = sched.register(alice)
    _error(client.get("/workers/tasks", headers=alice), 401)
    _error(client.post("/workers/heartbeat", headers=alice), 401)
    _error(client.post("/tasks/query", json={}, headers=sched.wh(w)), 401)
    _error(client.post("/workers", json={"tags": [], "groups": []}, headers=sched.wh(w)), 401)


def test_heartbeat_records_liveness(sched, alice, client, app):
    w = sched.register(alice)
    with app.app_context():
        db.session.execute(sa.update(Worker).values(last_heartbeat=datetime(2020, 1, 1, tzinfo=UTC)))
        db.session.commit()
    assert client.post("/workers/heartbeat", headers=sched.wh(w)).get_json() == {"cancel": []}
    info = client.get(f"/workers/{w['worker_id']}", headers=alice).get_json()["info"]
    assert datetime.fromisoformat(info["last_heartbeat"]) > datetime.now(UTC) - timedelta(minutes=1)


def test_a_heartbeat_is_one_statement_on_postgresql(sched, alice, client, app):
    """The worker's write, its creator's state and the tasks to cancel in one statement (PostgreSQL; SQLite
    writes, then reads twice): no lookup of the worker before it."""
    w = sched.register(alice)
    statements: list[str] = []
    engine = db.get_engine(app.config["DB_URL"])

    def listen(_conn, _cursor, statement, *_rest):
        if not statement.startswith("BEGIN"):  # SQLite's explicit BEGIN IMMEDIATE
            statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        assert client.post("/workers/heartbeat", headers=sched.wh(w)).get_json() == {"cancel": []}
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)
    writes = [s for s in statements if "UPDATE workers" in s]
    assert len(writes) == 1 and not any(s.lstrip().startswith("SELECT workers") for s in statements)
    assert len(statements) == (1 if BACKEND == "postgresql" else 3)


def test_get_worker_needs_a_related_group(sched, alice, bob, users, admin_headers, client):
    carol = users.headers(users.create("carol"))
    sched.group(alice, "team", {"carol": "Read"})
    w = sched.register(alice, groups=["team:read"], tags=["x"])
    body = client.get(f"/workers/{w['worker_id']}", headers=carol).get_json()
    assert body["groups"] == {"alice": "Admin", "team": "Read"}
    assert body["info"]["creator_username"] == "alice" and body["info"]["state"] == "Normal"
    assert client.get(f"/workers/{w['worker_id']}", headers=admin_headers).status_code == 200
    _error(client.get(f"/workers/{w['worker_id']}", headers=bob), 403)
    _error(client.get(f"/workers/{MISSING}", headers=alice), 404)


def test_query_workers_filters_and_membership(sched, alice, bob, users, client):
    sched.group(alice, "team", {"bob": "Read"})
    w1 = sched.register(alice, groups=["team:write"], tags=["gpu", "big"], labels=["r1"])
    w2 = sched.register(alice, groups=["team:admin"], tags=["gpu"])
    sched.register(alice, tags=["gpu"])  # personal group only

    def q(headers, **body):
        resp = client.post("/workers/query", json=body, headers=headers)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()

    assert {w["worker_id"] for w in q(bob, group_name="team")["workers"]} == {
        w1["worker_id"],
        w2["worker_id"],
    }
    assert [w["worker_id"] for w in q(bob, group_name="team", role=["Admin"])["workers"]] == [w2["worker_id"]]
    assert [w["worker_id"] for w in q(bob, group_name="team", tags=["big"])["workers"]] == [w1["worker_id"]]
    assert [w["worker_id"] for w in q(bob, group_name="team", labels=["r1"])["workers"]] == [w1["worker_id"]]
    assert q(bob, group_name="team", creator_username="bob")["workers"] == []
    assert q(alice, count=True) == {"count": 3, "workers": [], "group_name": "alice"}
    _error(client.post("/workers/query", json={"group_name": "alice"}, headers=bob), 403)
    _error(client.post("/workers/query", json={"tags": []}, headers=alice), 400)


def test_query_workers_lists_each_workers_groups_as_its_get_does(sched, alice, bob, client):
    sched.group(alice, "team", {"bob": "Read"})
    w1 = sched.register(alice, groups=["team:write"])
    w2 = sched.register(alice, groups=["team:admin"])
    workers = client.post("/workers/query", json={"group_name": "team"}, headers=bob).get_json()["workers"]
    assert {w["worker_id"]: w["groups"] for w in workers} == {
        w1["worker_id"]: {"alice": "Admin", "team": "Write"},
        w2["worker_id"]: {"alice": "Admin", "team": "Admin"},
    }
    for w in workers:
        assert client.get(f"/workers/{w['worker_id']}", headers=bob).get_json()["groups"] == w["groups"]


def test_query_workers_shows_assigned_task_uuid(sched, alice, client):
    uuid = sched.submit(alice, "alice")["uuid"]
    w = sched.register(alice)
    sched.fetch(w)
    workers = client.post("/workers/query", json={}, headers=alice).get_json()["workers"]
    assert workers[0]["assigned_task_id"] == uuid


def test_tags_and_labels_need_write_in_a_writing_group(sched, alice, bob, users, client, app):
    carol = users.headers(users.create("carol"))
    sched.group(alice, "team", {"bob": "Write", "carol": "Read"})
    w = sched.register(alice, groups=["team:write"], tags=["a"])
    url = f"/workers/{w['worker_id']}"
    assert client.put(url + "/tags", json={"tags": ["b"]}, headers=bob).status_code == 200
    assert client.put(url + "/labels", json={"labels": ["l"]}, headers=bob).status_code == 200
    _error(client.put(url + "/tags", json={"tags": ["c"]}, headers=carol), 403)
    _error(client.put(url + "/tags", json={"tags": []}, headers=alice), 400)
    _error(client.put(url + "/labels", json={"labels": []}, headers=alice), 400)
    _error(client.put(f"/workers/{MISSING}/tags", json={"tags": ["x"]}, headers=alice), 404)
    info = client.get(url, headers=alice).get_json()["info"]
    assert (info["tags"], info["labels"]) == (["b"], ["l"])


def test_group_roles_need_admin_in_an_admin_group(sched, alice, bob, app, client):
    sched.group(alice, "team", {"bob": "Admin"})
    sched.group(bob, "other")
    w = sched.register(alice, groups=["team:write"])
    url = f"/workers/{w['worker_id']}/groups"
    _error(client.put(url, json={"relations": {"other": "Write"}}, headers=bob), 403)  # team only Write on it
    assert client.put(url, json={"relations": {"team": "Admin"}}, headers=alice).status_code == 200
    assert client.put(url, json={"relations": {"other": "Write"}}, headers=bob).status_code == 200
    _error(client.put(url, json={"relations": {"nosuch": "Write"}}, headers=alice), 400)
    _error(client.put(url, json={"relations": {}}, headers=alice), 400)
    _error(client.put(url, json={"relations": {"team": "Boss"}}, headers=alice), 400)
    assert _roles(app, w["worker_id"]) == {"alice": "Admin", "team": "Admin", "other": "Write"}
    assert client.delete(url + "?groups=other,team", headers=bob).status_code == 200
    assert _roles(app, w["worker_id"]) == {"alice": "Admin"}
    _error(client.delete(url + "?groups=alice", headers=bob), 403)
    _error(client.delete(url, headers=alice), 400)
    _error(client.delete(url + "?groups=nosuch", headers=alice), 400)
    assert client.delete(url + "?groups=alice&groups=alice", headers=alice).status_code == 200


def test_shutdown_worker_permissions(sched, alice, bob, app, client):
    sched.group(alice, "team", {"bob": "Admin"})
    w = sched.register(alice, groups=["team:write"])
    _error(client.delete(f"/workers/{w['worker_id']}?op=force", headers=bob), 403)
    _error(client.delete(f"/workers/{w['worker_id']}?op=sideways", headers=alice), 400)
    _error(client.delete(f"/workers/{MISSING}", headers=alice), 404)
    assert _workers(app) == 1
    assert client.delete(f"/workers/{w['worker_id']}?op=Force", headers=alice).status_code == 200
    assert _workers(app) == 0


def test_admin_shutdown_with_and_without_trailing_slash(sched, alice, admin_headers, client, app):
    w1, w2 = sched.register(alice), sched.register(alice)
    _error(client.delete(f"/admin/workers/{w1['worker_id']}/", headers=alice), 403)
    assert (
        client.delete(f"/admin/workers/{w1['worker_id']}/?op=force", headers=admin_headers).status_code == 200
    )
    assert client.delete(f"/admin/workers/{w2['worker_id']}", headers=admin_headers).status_code == 200
    _error(client.delete(f"/admin/workers/{MISSING}", headers=admin_headers), 404)
    assert _workers(app) == 0


def test_shutdown_by_filter_affects_workers_the_group_administers(sched, alice, bob, client, app):
    sched.group(alice, "team", {"bob": "Write"})
    admin_w = sched.register(alice, groups=["team:admin"], labels=["x"])
    write_w = sched.register(alice, groups=["team:write"], labels=["x"])
    _error(client.post("/workers/shutdown", json={"group_name": "team", "op": "Force"}, headers=bob), 403)
    _error(client.post("/workers/shutdown", json={"group_name": "team"}, headers=alice), 400)
    resp = client.post(
        "/workers/shutdown", json={"group_name": "team", "labels": ["x"], "op": "Graceful"}, headers=alice
    )
    assert resp.get_json() == {"shutdown_count": 1, "group_name": "team"}
    remaining = client.post("/workers/query", json={"group_name": "team"}, headers=alice).get_json()[
        "workers"
    ]
    assert [w["worker_id"] for w in remaining] == [write_w["worker_id"]]
    assert admin_w["worker_id"] != write_w["worker_id"]


def test_shutdown_by_uuids_reports_failures(sched, alice, bob, client, app):
    mine = sched.register(alice)
    theirs = sched.register(bob)
    body = {"uuids": [mine["worker_id"], theirs["worker_id"], MISSING], "op": "force"}
    resp = client.post("/workers/shutdown/list", json=body, headers=alice)
    assert resp.get_json() == {"shutdown_count": 1, "failed_uuids": [theirs["worker_id"], MISSING]}
    _error(client.post("/workers/shutdown/list", json={"uuids": [], "op": "Force"}, headers=alice), 400)
    assert _workers(app) == 1
