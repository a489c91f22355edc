"""Groups: creation within the quota, one name space with users, information, members and roles."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from tests.builders import make_worker
from tests.helpers import db_snapshot


def _members(app, group_name):
    from app import db
    from app.models import Group, User, UserGroup

    with app.app_context():
        rows = db.session.execute(
            sa.select(User.username, UserGroup.role)
            .join(UserGroup, UserGroup.user_id == User.id)
            .join(Group, Group.id == UserGroup.group_id)
            .where(Group.group_name == group_name)
        )
        result = {name: role.name for name, role in rows}
        db.session.remove()
        return result


@pytest.fixture
def team(client, users):
    """Group "team" created by owner, with reader (Read) and writer (Write); outsider is in no group."""
    tokens = {name: users.create(name) for name in ("owner", "reader", "writer", "outsider")}
    assert (
        client.post(
            "/groups", json={"group_name": "team"}, headers=users.headers(tokens["owner"])
        ).status_code
        == 200
    )
    resp = client.put(
        "/groups/team/users",
        json={"relations": {"reader": "Read", "writer": "Write"}},
        headers=users.headers(tokens["owner"]),
    )
    assert resp.status_code == 200
    return {name: users.headers(token) for name, token in tokens.items()}


def test_create_group_makes_caller_admin_and_counts_quota(app, client, users):
    token = users.create("alice")
    resp = client.post("/groups", json={"group_name": "lab"}, headers=users.headers(token))
    assert resp.status_code == 200
    assert resp.get_data() == b""
    assert _members(app, "lab") == {"alice": "Admin"}
    from app import db
    from app.models import User

    with app.app_context():
        assert db.session.scalar(sa.select(User.group_count).where(User.username == "alice")) == 2
        db.session.remove()


def test_create_group_beyond_quota_returns_403(app, client, users):
    headers = users.headers(users.create("alice"))
    for i in range(7):  # the personal group counts: 8 - 1 = 7 more
        assert client.post("/groups", json={"group_name": f"g{i}"}, headers=headers).status_code == 200
    before = db_snapshot(app)
    resp = client.post("/groups", json={"group_name": "one-too-many"}, headers=headers)
    assert resp.status_code == 403
    assert resp.get_json()["msg"] == "Resource quota exceeded"
    assert db_snapshot(app) == before


@pytest.mark.parametrize("name", ["alice", "lab"])
def test_create_group_with_taken_name_returns_409(app, client, users, name):
    headers = users.headers(users.create("alice"))
    client.post("/groups", json={"group_name": "lab"}, headers=headers)
    before = db_snapshot(app)
    assert client.post("/groups", json={"group_name": name}, headers=headers).status_code == 409
    assert db_snapshot(app) == before


def test_create_user_with_name_of_group_returns_409(client, users, md5, admin_headers):
    client.post("/groups", json={"group_name": "lab"}, headers=users.headers(users.create("alice")))
    resp = client.post(
        "/admin/users",
        json={"username": "lab", "md5_password": md5("p"), "admin": False},
        headers=admin_headers,
    )
    assert resp.status_code == 409


@pytest.mark.parametrize("name", ["", "has space", "dot.name", "x" * 256, "émile", "a/b"])
def test_create_group_invalid_name_returns_400(app, client, users, name):
    headers = users.headers(users.create("alice"))
    before = db_snapshot(app)
    resp = client.post("/groups", json={"group_name": name}, headers=headers)
    assert resp.status_code == 400
    assert "Invalid group name" in resp.get_json()["msg"]
    assert db_snapshot(app) == before


def test_create_group_longest_valid_name_succeeds(client, users):
    headers = users.headers(users.create("alice"))
    assert (
        client.post("/groups", json={"group_name": "A-_9" * 63 + "abc"}, headers=headers).status_code == 200
    )


def test_get_group_admin_sees_members(app, client, team):
    make_worker(app, "owner", {"team": "Write"})
    make_worker(app, "reader", {"team": "Read", "reader": "Admin"})
    make_worker(app, "reader", {"reader": "Admin"})
    resp = client.get("/groups/team", headers=team["owner"])
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["users_in_group"] == {"owner": "Admin", "reader": "Read", "writer": "Write"}
    assert body["worker_count"] == 2
    assert (body["group_name"], body["creator_username"], body["state"]) == ("team", "owner", "Active")
    assert (body["task_count"], body["storage_used"], body["storage_quota"]) == (0, 0, 16_000_000_000)
    for key in ("created_at", "updated_at"):
        assert datetime.fromisoformat(body[key]).utcoffset() is not None


@pytest.mark.parametrize("member", ["reader", "writer"])
def test_get_group_non_admin_member_gets_no_member_list(client, team, member):
    resp = client.get("/groups/team", headers=team[member])
    assert resp.status_code == 200
    assert resp.get_json()["users_in_group"] is None


def test_get_group_non_member_returns_403(client, team, admin_headers):
    assert client.get("/groups/team", headers=team["outsider"]).status_code == 403
    assert client.get("/groups/team", headers=admin_headers).status_code == 403


def test_get_group_unknown_returns_404(client, team):
    assert client.get("/groups/nope", headers=team["owner"]).status_code == 404


def test_query_user_groups_lists_roles(client, team):
    resp = client.get("/users/groups", headers=team["reader"])
    assert resp.status_code == 200
    assert resp.get_json() == {"groups": {"reader": "Admin", "team": "Read"}}


def test_update_roles_changes_and_adds(app, client, team):
    resp = client.put(
        "/groups/team/users",
        json={"relations": {"reader": "admin", "outsider": "WRITE"}},
        headers=team["owner"],
    )
    assert resp.status_code == 200
    assert resp.get_data() == b""
    assert _members(app, "team") == {
        "owner": "Admin",
        "reader": "Admin",
        "writer": "Write",
        "outsider": "Write",
    }


@pytest.mark.parametrize("caller", ["reader", "writer", "outsider"])
def test_update_roles_by_non_admin_returns_403(app, client, team, caller):
    before = db_snapshot(app)
    resp = client.put("/groups/team/users", json={"relations": {caller: "Admin"}}, headers=team[caller])
    assert resp.status_code == 403
    assert db_snapshot(app) == before


def test_update_roles_unknown_user_returns_400_and_changes_nothing(app, client, team):
    before = db_snapshot(app)
    resp = client.put(
        "/groups/team/users", json={"relations": {"reader": "Admin", "ghost": "Read"}}, headers=team["owner"]
    )
    assert resp.status_code == 400
    assert "ghost" in resp.get_json()["msg"]
    assert db_snapshot(app) == before


def test_update_roles_empty_returns_400(client, team):
    assert client.put("/groups/team/users", json={"relations": {}}, headers=team["owner"]).status_code == 400


def test_update_roles_unknown_group_returns_404(client, team):
    assert (
        client.put(
            "/groups/nope/users", json={"relations": {"reader": "Read"}}, headers=team["owner"]
        ).status_code
        == 404
    )


@pytest.mark.parametrize(
    "query", ["users=reader,writer", "users=reader&users=writer", "users=reader%2Cwriter"]
)
def test_remove_users_accepts_comma_and_repeated_keys(app, client, team, query):
    resp = client.delete(f"/groups/team/users?{query}", headers=team["owner"])
    assert resp.status_code == 200
    assert resp.get_data() == b""
    assert _members(app, "team") == {"owner": "Admin"}


def test_remove_users_non_member_is_ignored(app, client, team):
    assert client.delete("/groups/team/users?users=outsider", headers=team["owner"]).status_code == 200
    assert _members(app, "team") == {"owner": "Admin", "reader": "Read", "writer": "Write"}


@pytest.mark.parametrize("query", ["", "users=", "users=ghost", "users=reader,ghost"])
def test_remove_users_empty_or_unknown_returns_400(app, client, team, query):
    before = db_snapshot(app)
    assert client.delete(f"/groups/team/users?{query}", headers=team["owner"]).status_code == 400
    assert db_snapshot(app) == before


@pytest.mark.parametrize("caller", ["reader", "writer", "outsider"])
def test_remove_users_by_non_admin_returns_403(app, client, team, caller):
    before = db_snapshot(app)
    assert client.delete("/groups/team/users?users=reader", headers=team[caller]).status_code == 403
    assert db_snapshot(app) == before


def test_remove_users_unknown_group_returns_404(client, team):
    assert client.delete("/groups/nope/users?users=reader", headers=team["owner"]).status_code == 404
