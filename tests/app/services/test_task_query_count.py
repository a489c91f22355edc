"""Task query counts and pages against brute force, for every kind of filter.

Counts (task_query._count): by group and states the count reads the lifecycle's counters; by any other
filter each part counts at most COUNT_EXACT_MAX + 1 matches: exact below, `count` = COUNT_EXACT_MAX and
`exact: false` beyond. Pages: a filtered part walks a bounded window of its index range, then (too few
matches there) the filter's own index or the rest of the range: every window size gives the same page.
"""

from __future__ import annotations

import pytest

from tests.builders import Sched
from tests.conftest import Users

FILTERS = [
    {},
    {"states": ["Ready"]},
    {"states": ["Finished", "Running"]},
    {"tags": ["t"]},
    {"tags": ["u"], "states": ["Ready"]},
    {"labels": ["odd"]},
    {"labels": ["odd", "n3"]},
    {"priority": ">=5"},
    {"priority": "!=2"},
    {"creator_usernames": ["bob"]},
    {"creator_usernames": ["alice", "bob"]},
    {"exit_status": "!=0"},
    {"exit_status": "0"},
    {"exit_status": ">=1"},
    {"exit_status": "!=3", "labels": ["odd"]},
    {"labels": ["none"]},
    {"exit_status": "0", "states": ["Ready"]},
    {"labels": ["odd"], "states": ["Running", "Finished"]},
]


@pytest.fixture
def clean_db():
    """No per-test cleaning (tests/conftest.py): every test here only reads the module's `spread`."""
    yield


@pytest.fixture(scope="module")
def spread(app) -> dict[str, dict[str, str]]:
    """Twelve tasks by two creators: archived with exit status 0..3 (tag t), Ready and Running (tag u).

    Built once for the module on emptied tables (the tests only query them); returns the users' headers.
    """
    from app.services import throttle
    from tests.conftest import _clean_tables

    _clean_tables(app)
    throttle.reset()
    users = Users(app)
    client = app.test_client()
    sched = Sched(client, users)
    alice, bob = (users.headers(users.create(name)) for name in ("alice", "bob"))
    resp = client.put("/groups/alice/users", json={"relations": {"bob": "Write"}}, headers=alice)
    assert resp.status_code < 300, resp.get_json()
    worker = sched.register(alice, tags=["t"])
    for i in range(8):
        creator = bob if i % 3 == 0 else alice
        labels = ["odd" if i % 2 else "even", f"n{i}"]
        sched.submit(creator, "alice", tags=["t"], labels=labels, priority=i)
        sched.run(worker, exit_status=i % 4)
    runner = sched.register(alice, tags=["u"])
    for i in range(4):
        sched.submit(bob if i % 2 else alice, "alice", tags=["u"], labels=["odd", "ready"], priority=i)
    sched.fetch(runner)  # one of them Running
    return {"alice": alice, "bob": bob}


@pytest.fixture
def alice(spread) -> dict[str, str]:
    return spread["alice"]


def _query(client, headers, **body):
    resp = client.post("/tasks/query", json={"group_name": "alice", **body}, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def _brute_force(client, headers, body):
    """Every match, page by page."""
    seen, cursor = [], None
    while True:
        page = _query(client, headers, limit=5, **body, **({"cursor": cursor} if cursor else {}))
        seen += [t["uuid"] for t in page["tasks"]]
        cursor = page.get("next_cursor")
        if cursor is None:
            return len(set(seen))


@pytest.mark.parametrize("body", FILTERS, ids=[str(f) for f in FILTERS])
def test_count_is_exact_below_the_bound(spread, alice, client, body):
    expected = _brute_force(client, alice, body)
    answer = _query(client, alice, count=True, **body)
    assert answer == {"count": expected, "tasks": [], "group_name": "alice"}


def test_the_spread_has_matches_for_every_filter_kind(spread, alice, client):
    assert _brute_force(client, alice, {"exit_status": "!=0"}) == 6
    assert _brute_force(client, alice, {"creator_usernames": ["bob"]}) == 5
    assert _brute_force(client, alice, {"labels": ["odd"]}) == 8


@pytest.mark.parametrize("body", FILTERS, ids=[str(f) for f in FILTERS])
def test_count_beyond_the_bound_says_at_least(spread, alice, client, monkeypatch, body):
    from app.services import task_query

    monkeypatch.setattr(task_query, "COUNT_EXACT_MAX", 2)
    expected = _brute_force(client, alice, body)
    answer = _query(client, alice, count=True, **body)
    if set(body) <= {"states"}:  # the counters: always exact
        assert answer == {"count": expected, "tasks": [], "group_name": "alice"}
    elif answer.get("exact") is False:
        assert answer["count"] == 2 and expected > 2
    else:  # every part (table, state, exit status range) held at most 2
        assert answer == {"count": expected, "tasks": [], "group_name": "alice"}
        assert expected <= 2 * 4


def test_count_exact_flag_only_when_bounded(spread, alice, client, monkeypatch):
    from app.services import task_query

    monkeypatch.setattr(task_query, "COUNT_EXACT_MAX", 2)
    assert _query(client, alice, count=True, labels=["odd"]) == {
        "count": 2,
        "tasks": [],
        "group_name": "alice",
        "exact": False,
    }
    assert "exact" not in _query(client, alice, count=True, labels=["none"])
    assert "exact" not in _query(client, alice, labels=["odd"])


# ---------------------------------------------------------------- pages against brute force


def _number_matches(text, value):
    from app.services.task import parse_number_filter

    op, n = parse_number_filter(text)
    return value is not None and getattr(value, op)(n)


def _matches(task, body):
    """The filter's meaning, checked in Python on a task of the unfiltered listing."""
    exit_status = (task["result"] or {}).get("exit_status") if task["reporter_uuid"] else None
    return all(
        (
            set(body.get("tags", [])) <= set(task["tags"]),
            set(body.get("labels", [])) <= set(task["labels"]),
            task["state"] in body.get("states", [task["state"]]),
            task["creator_username"] in body.get("creator_usernames", [task["creator_username"]]),
            "priority" not in body or _number_matches(body["priority"], task["priority"]),
            "exit_status" not in body or _number_matches(body["exit_status"], exit_status),
        )
    )


@pytest.mark.parametrize("window", [(1, 1), (1, 3), (2, 5), (20, 2000)])
@pytest.mark.parametrize("body", FILTERS, ids=[str(f) for f in FILTERS])
def test_pages_match_brute_force_whatever_the_window(spread, alice, client, monkeypatch, window, body):
    """Each page (limit, offset, cursor) is the brute-force page of the filter, for windows that hold all,
    some or none of a part's matches."""
    from app.services import task_query

    everything = _query(client, alice)["tasks"]
    assert len(everything) == 12
    expected = [t["uuid"] for t in everything if _matches(t, body)]
    monkeypatch.setattr(task_query, "WINDOW", window[0])
    monkeypatch.setattr(task_query, "WINDOW_MIN", window[1])
    for limit, offset in ((1, 0), (2, 0), (3, 1), (5, 2), (12, 0)):
        page = _query(client, alice, limit=limit, offset=offset, **body)["tasks"]
        assert [t["uuid"] for t in page] == expected[offset : offset + limit], (limit, offset)
    seen, cursor = [], None
    while True:
        page = _query(client, alice, limit=2, **body, **({"cursor": cursor} if cursor else {}))
        seen += [t["uuid"] for t in page["tasks"]]
        if (cursor := page.get("next_cursor")) is None:
            break
    assert seen == expected
