"""Prepared statements on PostgreSQL (app/prepared.py): the hot path's statements are prepared once per
connection, with their constants in the text so that PostgreSQL's generic plans read the partial dispatch
index; everything else, and SQLite, is sent as before."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from app import db, prepared
from app.models import ActiveTask, TaskState

TASK = {"tags": [], "labels": [], "timeout": "1m", "priority": 0, "task_spec": {"args": ["true"]}}
COMMIT = ["Finish", {"Commit": {"exit_status": 0, "msg": None}}]


def test_a_statement_is_prepared_with_numbered_parameters_and_executed_by_name():
    name, prepare, execute = prepared._rewrite("SELECT %(a)s, %(b)s, %(a)s WHERE x LIKE 'a%%'")
    assert name.startswith("mito_")
    assert prepare == f"PREPARE {name} AS SELECT $1, $2, $1 WHERE x LIKE 'a%'"
    assert execute == f"EXECUTE {name}(%(a)s, %(b)s)"
    other, _, without = prepared._rewrite("SELECT 1")
    assert other != name and without == f"EXECUTE {other}"


def test_constants_become_literals_and_named_parameters_stay():
    stmt = prepared.prepared(
        sa.select(ActiveTask.id)
        .where(ActiveTask.state == TaskState.Ready, ActiveTask.group_id == sa.bindparam("g"))
        .limit(1)
    )
    text = " ".join(str(stmt.compile(dialect=postgresql.psycopg2.dialect())).split())
    assert "active_tasks.state = 1" in text and "active_tasks.group_id = %(g)s" in text
    assert text.endswith("LIMIT 1")
    assert stmt.get_execution_options()[prepared.PREPARED] is True


def _register(client, alice, tasks: int):
    for _ in range(tasks):
        assert client.post("/tasks", json={"group_name": "alice", **TASK}, headers=alice).status_code == 200
    resp = client.post("/workers", json={"tags": [], "groups": []}, headers=alice)
    return {"Authorization": f"Bearer {resp.get_json()['token']}"}


def _chain(client, worker, task, commits: int):
    for _ in range(commits):
        body = {"id": task["id"], "ops": COMMIT, "next": True, "attempt": task["attempt"]}
        resp = client.post("/workers/tasks/batch", json=body, headers=worker)
        assert resp.status_code == 200, resp.get_json()
        task = resp.get_json()["next"]
    return task


def _prepared_here(conn) -> dict[str, tuple[str, int, int]]:
    rows = conn.exec_driver_sql(
        "SELECT name, statement, generic_plans, custom_plans FROM pg_prepared_statements"
    )
    return {name: (statement, generic, custom) for name, statement, generic, custom in rows}


@pytest.mark.postgres_only
def test_the_chained_commit_runs_on_prepared_generic_plans(app, client, alice):
    worker = _register(client, alice, 12)
    engine = db.get_engine(app.config["DB_URL"])
    engine.dispose()  # the requests below, one at a time, then use one connection: the one read after
    task = client.get("/workers/tasks", headers=worker).get_json()
    _chain(client, worker, task, 10)
    with engine.connect() as conn:
        here = _prepared_here(conn)
        assert set(here) == conn.info[prepared.PREPARED]
        texts = {" ".join(s.split()): (generic, custom) for s, generic, custom in here.values()}
        hot = {
            "lock": next(t for t in texts if "FOR UPDATE OF workers, active_tasks" in t),
            "archive": next(t for t in texts if "WITH gone AS" in t),
            "claim": next(t for t in texts if "WITH best AS" in t),
            "counters": next(t for t in texts if "INSERT INTO metric_counters" in t),
        }
        for part, text in hot.items():
            generic, custom = texts[text]
            assert generic + custom >= 10, part  # prepared once, executed by name since
            assert generic > 0, (part, generic, custom)  # PostgreSQL chose the generic plan
        # The constants are in the claim's text, so its generic plan reads the partial dispatch index.
        claim = next(name for name, (s, _, _) in here.items() if "WITH best AS" in s)
        conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        params = _claim_arguments(here[claim][0])
        plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN EXECUTE {claim}({params})"))
        assert "ix_active_tasks_dispatch" in plan
        conn.rollback()


def _claim_arguments(statement: str) -> str:
    """NULLs for each of the prepared claim's parameters (EXPLAIN only plans it)."""
    count = max(int(n) for n in re.findall(r"\$(\d+)", statement))
    return ", ".join(["NULL"] * count)


@pytest.mark.postgres_only
def test_a_connection_opened_again_prepares_again(app, client, alice):
    """The names live with the connection: one the server closed is replaced, and its successor prepares."""
    worker = _register(client, alice, 4)
    engine = db.get_engine(app.config["DB_URL"])
    engine.dispose()
    task = _chain(client, worker, client.get("/workers/tasks", headers=worker).get_json(), 1)
    with engine.connect() as conn:
        pid, before = conn.connection.dbapi_connection.get_backend_pid(), set(conn.info[prepared.PREPARED])
        assert before
    with sa.create_engine(app.config["DB_URL"]).connect() as admin:
        assert admin.exec_driver_sql(f"SELECT pg_terminate_backend({pid})").scalar()
    _chain(client, worker, task, 2)
    with engine.connect() as conn:
        assert conn.connection.dbapi_connection.get_backend_pid() != pid
        here = set(_prepared_here(conn))
        assert here == conn.info[prepared.PREPARED] and before <= here


@pytest.mark.postgres_only
def test_a_rollback_keeps_the_prepared_statement(app):
    """The connection's names outlive a rolled-back transaction, as the server's statements do."""
    stmt = prepared.prepared(sa.select(sa.bindparam("x", type_=sa.Integer()) + 1))
    engine = db.get_engine(app.config["DB_URL"])
    engine.dispose()
    with engine.connect() as conn:
        assert conn.execute(stmt, {"x": 1}).scalar() == 2
        conn.rollback()
        assert conn.execute(stmt, {"x": 41}).scalar() == 42
        (statement,) = [s for s, _, _ in _prepared_here(conn).values() if "$1" in s and "+ 1" in s]
        assert statement.startswith("PREPARE mito_")
        conn.rollback()


@pytest.mark.postgres_only
def test_a_query_page_runs_prepared_with_its_token_and_group_reads(app, client, alice):
    """POST /tasks/query: the token's user, the group with the caller's role and the page's walk are
    prepared statements; the pages they answer are the same each time."""
    for n in range(3):
        task = {**TASK, "labels": [f"l{n}"]}
        assert client.post("/tasks", json={"group_name": "alice", **task}, headers=alice).status_code == 200
    engine = db.get_engine(app.config["DB_URL"])
    engine.dispose()
    body = {"group_name": "alice", "labels": ["l1"], "limit": 10}
    pages = [client.post("/tasks/query", json=body, headers=alice).get_json() for _ in range(7)]
    assert all(page == pages[0] for page in pages) and [t["labels"] for t in pages[0]["tasks"]] == [["l1"]]
    with engine.connect() as conn:
        texts = [" ".join(s.split()) for s, _, _ in _prepared_here(conn).values()]
    assert any("FROM users WHERE users.username = $1" in t for t in texts)
    assert any("FROM groups LEFT OUTER JOIN user_group" in t for t in texts)
    assert any("FROM archived_tasks" in t and "labels" in t for t in texts)


@pytest.mark.postgres_only
def test_past_its_bound_a_connection_runs_marked_statements_unprepared(app, monkeypatch):
    """A query's creators filter makes a text per list length: a connection prepares at most
    MAX_PER_CONNECTION statements, and the others still answer, as plain statements."""
    monkeypatch.setattr(prepared, "MAX_PER_CONNECTION", 1)
    first = prepared.prepared(sa.select(sa.bindparam("x", type_=sa.Integer()) + 1))
    second = prepared.prepared(sa.select(sa.bindparam("x", type_=sa.Integer()) + 2))
    engine = db.get_engine(app.config["DB_URL"])
    engine.dispose()
    with engine.connect() as conn:
        assert conn.execute(first, {"x": 1}).scalar() == 2
        assert conn.execute(second, {"x": 1}).scalar() == 3
        assert conn.execute(second, {"x": 2}).scalar() == 4
        assert len(_prepared_here(conn)) == 1 == len(conn.info[prepared.PREPARED])
        conn.rollback()
