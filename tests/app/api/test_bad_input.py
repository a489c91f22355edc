"""Bad input for every request body of the foundation: 4xx in the error shape, and the database unchanged."""

from __future__ import annotations

import json

import pytest

from tests.app.api.test_permissions import OPERATIONS
from tests.conftest import ADMIN_USER
from tests.helpers import db_snapshot, md5_list

MD5 = md5_list("password")
BAD_MD5 = [
    MD5[:15],
    MD5 + [1],
    [256] + MD5[1:],
    [-1] + MD5[1:],
    ["1"] + MD5[1:],
    [1.5] + MD5[1:],
    [True] + MD5[1:],
    "0123456789abcdef0123456789abcdef",
    None,
    {},
    5,
]
BAD_NAMES = ["", "has space", "a.b", "x" * 256, "naïve", "semi;colon", "slash/name"]
WRONG_TYPES = [None, 1, 1.5, True, [], {}]

# operationId -> (method, url, caller, valid body, {field: [bad values]})
BODIES = {
    "userLogin": (
        "POST",
        "/login",
        None,
        {"username": "alice", "md5_password": MD5, "retain": False},
        {"username": [None, 1, [], {}], "md5_password": BAD_MD5, "retain": ["yes", 1, None, "true"]},
    ),
    "changePassword": (
        "POST",
        "/users/alice/password",
        "alice",
        {"old_md5_password": MD5, "new_md5_password": MD5},
        {"old_md5_password": BAD_MD5, "new_md5_password": BAD_MD5},
    ),
    "createGroup": (
        "POST",
        "/groups",
        "alice",
        {"group_name": "lab"},
        {"group_name": WRONG_TYPES + BAD_NAMES},
    ),
    "updateUserGroup": (
        "PUT",
        "/groups/alice/users",
        "alice",
        {"relations": {"bob": "Read"}},
        {"relations": [None, [], "bob", {"bob": "Owner"}, {"bob": 1}, {"bob": None}, {"ghost": "Read"}, {}]},
    ),
    "adminCreateUser": (
        "POST",
        "/admin/users",
        ADMIN_USER,
        {"username": "carol", "md5_password": MD5, "admin": False},
        {
            "username": WRONG_TYPES + BAD_NAMES + ["alice", "bob"],
            "md5_password": BAD_MD5,
            "admin": ["false", 0, None, "no"],
        },
    ),
    "adminChangeUserPassword": (
        "POST",
        "/admin/users/alice/password",
        ADMIN_USER,
        {"new_md5_password": MD5},
        {"new_md5_password": BAD_MD5},
    ),
    "adminChangeUserGroupQuota": (
        "POST",
        "/admin/users/alice/group-quota",
        ADMIN_USER,
        {"group_quota": "+1"},
        {"group_quota": WRONG_TYPES + ["", "x", "+x", "1.0", "99999999999"]},
    ),
    "adminChangeUserState": (
        "POST",
        "/admin/users/alice/state",
        ADMIN_USER,
        {"state": "Locked"},
        {"state": WRONG_TYPES + ["Frozen", "", "Gone", "0"]},
    ),
    "adminChangeGroupStorageQuota": (
        "POST",
        "/admin/groups/alice/storage-quota",
        ADMIN_USER,
        {"storage_quota": "1GB"},
        {"storage_quota": WRONG_TYPES + ["", "1XB", "GB", "--1GB", "1e40"]},
    ),
    "adminShutdownCoordinator": (
        "POST",
        "/admin/shutdown",
        ADMIN_USER,
        {"secret": "test-shutdown-secret"},
        {"secret": WRONG_TYPES + ["wrong"]},
    ),
}


def _cases(valid: dict, bad_fields: dict):
    """(label, raw body) pairs: each field missing, each bad value, an unknown field, non-object bodies."""
    for field in valid:
        if field != "retain":  # optional, defaults to false
            yield f"missing {field}", json.dumps({k: v for k, v in valid.items() if k != field})
    for field, values in bad_fields.items():
        for value in values:
            yield f"{field}={value!r}"[:60], json.dumps({**valid, field: value})
    yield "unknown field", json.dumps({**valid, "unexpected": 1})
    for raw in ("", "null", "[]", "1", '"x"', "{", '{"a":'):
        yield f"body {raw!r}", raw


@pytest.fixture
def callers(users):
    users.create("alice")
    users.create("bob")
    return {"alice": users.headers("alice"), ADMIN_USER: users.headers(ADMIN_USER), None: {}}


@pytest.mark.parametrize("operation", sorted(BODIES))
def test_bad_bodies_are_refused_and_change_nothing(app, client, callers, operation):
    method, url, caller, valid, bad_fields = BODIES[operation]
    before = db_snapshot(app)
    app.config["SHUTDOWN_HOOK"] = lambda: pytest.fail("shutdown initiated by a bad request")
    wrong = []
    try:
        for label, raw in _cases(valid, bad_fields):
            resp = client.open(
                url, method=method, data=raw, content_type="application/json", headers=callers[caller]
            )
            body = resp.get_json(silent=True) or {}
            if (
                not 400 <= resp.status_code < 500
                or body.get("error") != body.get("msg")
                or not body.get("msg")
            ):
                wrong.append(f"{label}: {resp.status_code} {resp.get_data(as_text=True)[:200]}")
        oversized = json.dumps({**valid, "pad": "x" * app.config["MAX_CONTENT_LENGTH"]})
        resp = client.open(
            url, method=method, data=oversized, content_type="application/json", headers=callers[caller]
        )
        if resp.status_code != 413:
            wrong.append(f"oversized: {resp.status_code}")
        resp = client.open(
            url, method=method, data=json.dumps(valid), content_type="text/plain", headers=callers[caller]
        )
        if resp.status_code != 415:
            wrong.append(f"text/plain: {resp.status_code}")
    finally:
        del app.config["SHUTDOWN_HOOK"]
    assert not wrong, "\n".join(wrong)
    assert db_snapshot(app) == before


def test_bad_input_cases_cover_every_body_operation(app):
    doc = app.test_client().get("/openapi.json").get_json()
    with_body = {
        op["operationId"]
        for item in doc["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "requestBody" in op
    }
    foundation = set(OPERATIONS) | {"healthCheck", "userLogin"}
    assert with_body & foundation == set(BODIES)


@pytest.mark.parametrize("query", ["", "users=", "users=,", "users=ghost", "users=bob,ghost", "other=bob"])
def test_bad_removal_query_is_refused_and_changes_nothing(app, client, callers, query):
    assert (
        client.put(
            "/groups/alice/users", json={"relations": {"bob": "Read"}}, headers=callers["alice"]
        ).status_code
        == 200
    )
    before = db_snapshot(app)
    resp = client.delete(f"/groups/alice/users?{query}", headers=callers["alice"])
    assert resp.status_code == 400
    assert resp.get_json()["error"] == resp.get_json()["msg"]
    assert db_snapshot(app) == before
