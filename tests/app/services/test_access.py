"""The access vocabulary called directly: groups by name, user roles in groups, group roles on workers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app import auth, db
from app.errors import Forbidden, InvalidRequest, NotFound
from app.models import Role, Worker
from app.services import access
from app.services import group as group_service
from app.services import user as user_service
from app.services import worker as worker_service


@pytest.fixture
def people(app_ctx):
    """alice administers `lab`, where bob writes and carol reads; root is a site admin outside it."""

    def make(name, admin=False):
        return user_service.create_user(username=name, md5_password=auth.md5_bytes("pw"), admin=admin)

    alice, bob, carol, root = make("alice"), make("bob"), make("carol"), make("root", admin=True)
    group_service.create_group(actor=alice, group_name="lab")
    group_service.update_user_roles(
        actor=alice, group_name="lab", relations={"bob": Role.Write, "carol": Role.Read}
    )
    return {"alice": alice, "bob": bob, "carol": carol, "root": root, "lab": access.require_group("lab")}


def test_require_group_finds_by_name_or_404(people):
    assert access.require_group("lab").group_name == "lab"
    assert access.find_group("nope") is None
    with pytest.raises(NotFound, match="Group nope not found"):
        access.require_group("nope")


def test_require_groups_names_every_missing_group_400(people):
    assert set(access.require_groups(["lab", "alice"])) == {"lab", "alice"}
    with pytest.raises(InvalidRequest, match="Some groups do not exist: x, y"):
        access.require_groups(["lab", "y", "x"])


def test_role_in_by_row_or_id_and_none_for_non_members(people):
    lab = people["lab"]
    assert access.role_in(people["alice"], lab) == Role.Admin
    assert access.role_in(people["bob"], lab.id) == Role.Write
    assert access.role_in(people["root"], lab) is None


@pytest.mark.parametrize(
    ("who", "minimum", "allowed"),
    [
        ("carol", Role.Read, True),
        ("carol", Role.Write, False),
        ("bob", Role.Write, True),
        ("bob", Role.Admin, False),
        ("alice", Role.Admin, True),
        ("root", Role.Read, False),
    ],
)
def test_require_role_allows_at_least_minimum_and_refuses_below(people, who, minimum, allowed):
    user, lab = people[who], people["lab"]
    assert access.has_role(user, lab, minimum) is allowed
    if allowed:
        assert access.require_role(user, lab, minimum) >= minimum
    else:
        with pytest.raises(Forbidden, match=f"needs {minimum.name} in group lab"):
            access.require_role(user, lab, minimum)


def test_site_admin_passes_only_where_exempt(people):
    root, lab = people["root"], people["lab"]
    assert access.has_role(root, lab, Role.Read, admin_exempt=True)
    assert access.require_role(root, lab, Role.Read, admin_exempt=True) is None
    with pytest.raises(Forbidden):
        access.require_role(root, lab, Role.Write)


def test_require_group_role_defaults_to_personal_group(people):
    assert access.require_group_role(people["bob"], None, Role.Admin).group_name == "bob"
    assert access.require_group_role(people["bob"], "lab", Role.Write).group_name == "lab"
    with pytest.raises(Forbidden):
        access.require_group_role(people["carol"], "lab", Role.Write)
    with pytest.raises(NotFound):
        access.require_group_role(people["carol"], "nope", Role.Read)


def test_worker_role_and_worker_access(people):
    lab, alice, bob, carol = people["lab"], people["alice"], people["bob"], people["carol"]
    reg = worker_service.register_worker(actor=alice, tags=[], groups=["lab:write"], labels=[], lifetime=None)
    worker = db.session.scalar(sa.select(Worker).where(Worker.uuid == reg.worker_id))
    assert access.worker_role(worker, lab) == Role.Write
    assert access.worker_role(worker, access.require_group("alice").id) == Role.Admin
    assert access.worker_role(worker, access.require_group("bob")) is None
    assert access.has_worker_access(alice, worker, worker_min=Role.Admin, user_min=Role.Admin)  # creator
    assert access.has_worker_access(bob, worker, worker_min=Role.Write, user_min=Role.Write)
    assert not access.has_worker_access(bob, worker, worker_min=Role.Admin, user_min=Role.Write)
    assert access.has_worker_access(carol, worker, worker_min=Role.Read, user_min=Role.Read)
    assert not access.has_worker_access(carol, worker, worker_min=Role.Write, user_min=Role.Write)
