"""Permission matrix: every authenticated operation of the foundation against every kind of caller.

Callers: no token, a worker token, a stale user token (signature rotated since), a locked user who is an
Admin member, a non-member, Read, Write and Admin members of the group "team", and the site admin (who is
not a member of "team": admins get no implicit rights on ordinary endpoints). Refusals leave the database
unchanged. healthCheck needs no token and userLogin takes credentials: both are covered in
tests/app/api/test_login.py.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.builders import make_worker
from tests.conftest import ADMIN_USER
from tests.helpers import db_snapshot, md5_list

ACTORS = ["none", "worker", "stale", "locked", "outsider", "reader", "writer", "owner", "admin"]
USERS = ["outsider", "reader", "writer", "owner", "admin"]
NEW = md5_list("new-password")

# operationId -> (method, url, body, {actor: status} for the actors in USERS; the rest answer 401/403)
OPERATIONS = {
    "userAuth": ("GET", "/auth", None, dict.fromkeys(USERS, 200)),
    "getRedisConnectionInfo": ("GET", "/redis", None, dict.fromkeys(USERS, 200)),
    "changePassword": (
        "POST",
        "/users/writer/password",
        {"old_md5_password": md5_list("password"), "new_md5_password": NEW},
        {**dict.fromkeys(USERS, 403), "writer": 200},
    ),
    "queryUserGroups": ("GET", "/users/groups", None, dict.fromkeys(USERS, 200)),
    "createGroup": ("POST", "/groups", {"group_name": "new-group"}, dict.fromkeys(USERS, 200)),
    "getGroup": (
        "GET",
        "/groups/team",
        None,
        {"outsider": 403, "reader": 200, "writer": 200, "owner": 200, "admin": 403},
    ),
    "updateUserGroup": (
        "PUT",
        "/groups/team/users",
        {"relations": {"outsider": "Read"}},
        {**dict.fromkeys(USERS, 403), "owner": 200},
    ),
    "removeUserGroupParams": (
        "DELETE",
        "/groups/team/users?users=reader",
        None,
        {**dict.fromkeys(USERS, 403), "owner": 200},
    ),
    "adminCreateUser": (
        "POST",
        "/admin/users",
        {"username": "newcomer", "md5_password": NEW, "admin": False},
        {**dict.fromkeys(USERS, 403), "admin": 200},
    ),
    "adminDeleteUser": ("DELETE", "/admin/users/outsider", None, {**dict.fromkeys(USERS, 403), "admin": 200}),
    "adminChangeUserPassword": (
        "POST",
        "/admin/users/outsider/password",
        {"new_md5_password": NEW},
        {**dict.fromkeys(USERS, 403), "admin": 200},
    ),
    "adminChangeUserGroupQuota": (
        "POST",
        "/admin/users/outsider/group-quota",
        {"group_quota": "+1"},
        {**dict.fromkeys(USERS, 403), "admin": 200},
    ),
    "adminChangeUserState": (
        "POST",
        "/admin/users/outsider/state",
        {"state": "Locked"},
        {**dict.fromkeys(USERS, 403), "admin": 200},
    ),
    "adminChangeGroupStorageQuota": (
        "POST",
        "/admin/groups/team/storage-quota",
        {"storage_quota": "1GB"},
        {**dict.fromkeys(USERS, 403), "admin": 200},
    ),
    "adminShutdownCoordinator": (
        "POST",
        "/admin/shutdown",
        {"secret": "test-shutdown-secret"},
        {**dict.fromkeys(USERS, 403), "admin": 200},
    ),
}


def expected_status(operation: str, actor: str) -> int:
    if actor in ("none", "worker", "stale"):
        return 401
    if actor == "locked":
        return 403
    return OPERATIONS[operation][3][actor]


@pytest.fixture
def world(app, users):
    """Group "team" (owner Admin, reader Read, writer Write, locked: Admin but Locked), a token per caller."""
    from app import auth, db
    from app.models import Group, Role, User, UserGroup, UserState

    tokens = {name: users.create(name) for name in ("owner", "reader", "writer", "outsider", "locked")}
    with app.app_context():
        owner = db.session.scalar(sa.select(User).where(User.username == "owner"))
        team = Group(group_name="team", creator_id=owner.id)
        db.session.add(team)
        db.session.flush()
        for name, role in (
            ("owner", Role.Admin),
            ("reader", Role.Read),
            ("writer", Role.Write),
            ("locked", Role.Admin),
        ):
            user = db.session.scalar(sa.select(User).where(User.username == name))
            db.session.add(UserGroup(user_id=user.id, group_id=team.id, role=role))
        db.session.execute(sa.update(User).where(User.username == "locked").values(state=UserState.Locked))
        db.session.commit()
        db.session.remove()
    tokens["stale"] = users.token("reader")
    with app.app_context():
        db.session.execute(
            sa.update(User).where(User.username == "reader").values(auth_signature=auth.new_signature())
        )
        db.session.commit()
        db.session.remove()
    tokens["reader"] = users.token("reader")
    tokens["admin"] = users.token(ADMIN_USER)
    tokens["worker"] = make_worker(app, "owner", {"team": "Admin"})
    return {actor: ({} if actor == "none" else users.headers(tokens[actor])) for actor in ACTORS}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_permission(app, client, world, operation):
    """Each caller gets the expected status; refused callers first, so they meet the unchanged state."""
    method, url, body, _ = OPERATIONS[operation]
    order = sorted(ACTORS, key=lambda actor: expected_status(operation, actor) < 400)
    wrong = []
    for actor in order:
        expected = expected_status(operation, actor)
        payload = {"group_name": f"new-{actor}"} if operation == "createGroup" else body
        shutdowns = []
        app.config["SHUTDOWN_HOOK"] = lambda shutdowns=shutdowns: shutdowns.append(1)
        try:
            before = db_snapshot(app)
            resp = client.open(url, method=method, json=payload, headers=world[actor], buffered=True)
        finally:
            del app.config["SHUTDOWN_HOOK"]
        if resp.status_code != expected:
            wrong.append(
                f"{actor}: expected {expected}, got {resp.status_code} {resp.get_data(as_text=True)}"
            )
        elif expected >= 400:
            if resp.get_json()["error"] != resp.get_json()["msg"]:
                wrong.append(f"{actor}: error body {resp.get_json()}")
            if db_snapshot(app) != before or shutdowns:
                wrong.append(f"{actor}: refused with {expected} but changed state")
        elif operation == "adminShutdownCoordinator" and shutdowns != [1]:
            wrong.append(f"{actor}: shutdown allowed but not initiated")
    assert not wrong, "\n".join(wrong)


def test_matrix_covers_every_authenticated_foundation_operation(app):
    doc = app.test_client().get("/openapi.json").get_json()
    served = {
        op["operationId"]
        for item in doc["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    foundation = served & (set(OPERATIONS) | {"healthCheck", "userLogin"})
    assert set(OPERATIONS) <= served
    assert foundation == set(OPERATIONS) | {"healthCheck", "userLogin"}
