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


def test_query_small_pages_show_what_the_large_page_shows(populated, alice, client, monkeypatch):
    """Small pages read their rows in the parts' walk, larger ones by id afterwards: the same rows."""
    from app.services import task_query

    whole = _query(client, alice)["tasks"]
    small = [t for offset in (0, 2, 4) for t in _query(client, alice, limit=2, offset=offset)["tasks"]]
    assert small == whole and len(whole) == 6
    monkeypatch.setattr(task_query, "_WHOLE_UP_TO", 0)
    assert _query(client, alice, limit=2, offset=2)["tasks"] == whole[2:4]


def test_query_page_dump_is_the_task_schemas(populated, alice, client, app):
    """The page's quick dump of a plain task gives what TaskQueryInfo's schema gives."""
    from app.schemas.tasks import TaskQueryInfo, _plain_task
    from app.services import task_query

    with app.app_context():
        from app import db
        from app.models import User

        actor = db.session.query(User).filter_by(username="alice").one()
        page = task_query.query_tasks(actor=actor, filters={"group_name": "alice", "limit": 10})
        assert len(page.tasks) == 6
        for task in page.tasks:
            assert _plain_task(task) == TaskQueryInfo().dump(task)
        db.session.remove()


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


# ---------------------------------------------------------------- pages: limit maximum and cursor


@pytest.fixture
def mixed(sched, alice):
    """Nine tasks, newest last: archived (tag t, run at once) and active (tag u, left Ready) in turns."""
    w = sched.register(alice, tags=["t"])
    uuids = []
    for i in range(9):
        archived = i % 3 != 1
        uuids.append(
            sched.submit(alice, "alice", tags=["t" if archived else "u"], labels=[f"n{i % 2}"])["uuid"]
        )
        if archived:
            sched.run(w)
    return uuids[::-1]  # the query's order: newest first


def _pages(client, headers, limit, **body):
    """Every page by next_cursor; asserts the last page has none."""
    pages, cursor = [], None
    while True:
        resp = _query(client, headers, limit=limit, **body, **({"cursor": cursor} if cursor else {}))
        pages.append(_uuids(resp))
        cursor = resp.get("next_cursor")
        if cursor is None:
            return pages
        assert len(pages) < 20, "the cursor does not advance"


def test_query_cursor_pages_cover_active_and_archived_tasks_in_order(mixed, alice, client):
    pages = _pages(client, alice, 2)
    assert [len(p) for p in pages] == [2, 2, 2, 2, 1]
    assert [u for page in pages for u in page] == mixed
    assert _pages(client, alice, 3) == [mixed[0:3], mixed[3:6], mixed[6:9]]


def test_query_cursor_pages_keep_the_filter(mixed, alice, client):
    expected = [u for i, u in enumerate(mixed) if (8 - i) % 2 == 0]  # labels n0
    assert [u for page in _pages(client, alice, 2, labels=["n0"]) for u in page] == expected
    ready_or_finished = _pages(client, alice, 2, states=["Ready", "Finished"])
    assert [u for page in ready_or_finished for u in page] == mixed


def test_query_cursor_combines_with_offset(mixed, alice, client):
    first = _query(client, alice, limit=2)
    resp = _query(client, alice, limit=2, offset=1, cursor=first["next_cursor"])
    assert _uuids(resp) == mixed[3:5]
    assert _query(client, alice, offset=7)["tasks"] and "next_cursor" not in _query(client, alice, offset=7)


def test_query_last_page_and_count_have_no_cursor(mixed, alice, client):
    whole = _query(client, alice)
    assert _uuids(whole) == mixed and "next_cursor" not in whole
    assert _query(client, alice, count=True, limit=2) == {"count": 9, "tasks": [], "group_name": "alice"}


def test_query_without_limit_is_one_bounded_page_with_a_cursor(mixed, alice, client, monkeypatch):
    from app.services import task_query

    monkeypatch.setattr(task_query, "QUERY_LIMIT_MAX", 4)
    resp = _query(client, alice)
    assert _uuids(resp) == mixed[:4] and resp["count"] == 4
    assert _uuids(_query(client, alice, cursor=resp["next_cursor"])) == mixed[4:8]


def test_query_limit_above_the_maximum_is_400(mixed, alice, client):
    from mito.vocab.queries import QUERY_LIMIT_MAX

    assert len(_query(client, alice, limit=QUERY_LIMIT_MAX)["tasks"]) == 9
    resp = client.post(
        "/tasks/query", json={"group_name": "alice", "limit": QUERY_LIMIT_MAX + 1}, headers=alice
    )
    assert resp.status_code == 400
    assert "limit" in resp.get_json()["errors"]["json"] and resp.get_json()["msg"]


def test_query_bad_cursor_is_400(mixed, alice, client):
    for cursor in ("nope", "W10", "WyJ4IiwxXQ", "WyIyMDI2LTAxLTAxVDAwOjAwOjAwIiwxXQ", 7):
        resp = client.post("/tasks/query", json={"group_name": "alice", "cursor": cursor}, headers=alice)
        assert resp.status_code == 400, cursor
        assert resp.get_json()["msg"]


def test_query_rare_match_beyond_the_window_is_found(mixed, alice, client, monkeypatch):
    """A filter matching only old tasks: the bounded walk finds too few, the filter's own index the rest."""
    from app.services import task_query

    monkeypatch.setattr(task_query, "WINDOW", 1)
    monkeypatch.setattr(task_query, "WINDOW_MIN", 1)
    assert _uuids(_query(client, alice, tags=["u"], limit=1)) == [mixed[1]]
    assert _uuids(_query(client, alice, labels=["n0"], limit=1, offset=3)) == [mixed[6]]
    assert _uuids(_query(client, alice, priority="=0", limit=9)) == mixed


@pytest.mark.parametrize("window", [1, 2, 4])
def test_query_tasks_of_one_instant_page_by_id_across_a_window_edge(
    mixed, alice, client, app, monkeypatch, window
):
    """Every task created at the same instant: a filtered part's window ends among equal created_at, and
    pages (offset and cursor) still follow the id, across active and archived tasks."""
    import sqlalchemy as sa

    from app import db
    from app.models import ActiveTask, ArchivedTask
    from app.services import task_query

    with app.app_context():
        for model in (ActiveTask, ArchivedTask):
            db.session.execute(
                sa.update(model).values(created_at=sa.select(sa.func.min(model.created_at)).scalar_subquery())
            )
        db.session.commit()
    everything = _query(client, alice)["tasks"]
    assert len({t["created_at"] for t in everything}) <= 2  # one instant per table
    monkeypatch.setattr(task_query, "WINDOW", 1)
    monkeypatch.setattr(task_query, "WINDOW_MIN", window)
    for body, keep in (
        ({"labels": ["n0"]}, lambda t: "n0" in t["labels"]),
        ({"priority": "=0"}, lambda t: True),
        ({"tags": ["t"]}, lambda t: "t" in t["tags"]),
    ):
        expected = [t["uuid"] for t in everything if keep(t)]
        assert [u for page in _pages(client, alice, 2, **body) for u in page] == expected, body
        for offset in range(len(expected)):
            assert (
                _uuids(_query(client, alice, limit=2, offset=offset, **body)) == expected[offset : offset + 2]
            )


def test_query_deep_pages_merged_by_the_database_match(mixed, alice, client, monkeypatch):
    from app.services import task_query

    monkeypatch.setattr(task_query, "_PROBED_UP_TO", 2)
    assert [_uuids(_query(client, alice, limit=2, offset=o)) for o in (0, 4, 8)] == [
        mixed[0:2],
        mixed[4:6],
        mixed[8:9],
    ]
    resp = _query(client, alice, limit=2, offset=2, tags=["t"])
    assert _uuids(resp) == [mixed[3], mixed[5]]
    assert _uuids(_query(client, alice, limit=3, cursor=resp["next_cursor"])) == mixed[6:9]


def test_query_count_by_group_and_state_reads_the_counters(mixed, alice, client):
    assert _query(client, alice, count=True, states=["Ready"])["count"] == 3
    assert _query(client, alice, count=True, states=["Finished", "Ready"])["count"] == 9
    assert _query(client, alice, count=True, tags=["t"], states=["Finished"])["count"] == 6
    assert _query(client, alice, count=True, exit_status="0")["count"] == 6


def test_query_statements_built_once_per_shape_with_each_requests_values(populated, alice, client):
    """Requests of one filter shape run the statement built for the first (values bound at execution),
    and each answers by its own values."""
    from app.services import task_query

    task_query._walks.cache_clear()
    assert _uuids(_query(client, alice, labels=["ok"], priority=">=1")) == [populated["ok"]]
    built = task_query._walks.cache_info().misses
    assert _uuids(_query(client, alice, labels=["fail"], priority=">=1")) == [populated["fail"]]
    assert _uuids(_query(client, alice, labels=["batch", "killed"], priority=">=1")) == [populated["killed"]]
    assert _uuids(_query(client, alice, labels=["batch"], priority=">=7")) == [
        populated[n] for n in ("killed", "fail")
    ]
    assert task_query._walks.cache_info().misses == built
    page = _query(client, alice, labels=["batch"], priority=">=0", limit=1)
    rest = _query(client, alice, labels=["batch"], priority=">=0", cursor=page["next_cursor"])
    order = ["low", "running", "killed", "fail", "ok"]
    assert _uuids(page) + _uuids(rest) == [populated[n] for n in order]
