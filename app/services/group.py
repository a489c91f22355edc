"""Groups: creation (within the creator's group quota), membership, roles, information."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa

from app import db
from app.errors import AlreadyExists, InvalidRequest, QuotaExceeded
from app.models import Group, GroupWorker, Role, User, UserGroup
from app.services import access
from app.services import user as user_service


@db.transactional
def create_group(*, actor: User, group_name: str) -> Group:
    """Create a group with the caller as its Admin; counts against the caller's group quota."""
    user_service.validate_name(group_name, "group name")
    if user_service.name_taken(group_name):
        raise AlreadyExists(f"User or group with same name {group_name} already exists")
    counted = cast(
        "sa.CursorResult[Any]",
        db.session.execute(
            sa.update(User)
            .where(User.id == actor.id, User.group_count < User.group_quota)
            .values(group_count=User.group_count + 1)
        ),
    )
    if counted.rowcount != 1:
        raise QuotaExceeded()
    group = Group(group_name=group_name, creator_id=actor.id)
    db.session.add(group)
    db.session.flush()
    db.session.add(UserGroup(user_id=actor.id, group_id=group.id, role=Role.Admin))
    db.session.flush()
    return group


@dataclass(frozen=True)
class GroupDetails:
    """A group with what its information page adds: how many workers serve it and (for Admins) members."""

    group: Group
    worker_count: int
    users_in_group: dict[str, Role] | None


def get_group(*, actor: User, group_name: str) -> GroupDetails:
    """A group's information for its members; the member list only for the group's Admins."""
    group = access.require_group(group_name)
    role = access.require_role(actor, group, Role.Read)
    workers = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(GroupWorker.worker_id))).where(GroupWorker.group_id == group.id)
    )
    members = None
    if role == Role.Admin:
        rows = db.session.execute(
            sa.select(User.username, UserGroup.role)
            .join(UserGroup, UserGroup.user_id == User.id)
            .where(UserGroup.group_id == group.id)
        )
        members = {name: member_role for name, member_role in rows}
    return GroupDetails(group=group, worker_count=workers or 0, users_in_group=members)


def _require_users(usernames: Iterable[str]) -> dict[str, int]:
    """Map each named user to its id; 400 naming the ones that do not exist."""
    names = set(usernames)
    found = dict(db.session.execute(sa.select(User.username, User.id).where(User.username.in_(names))).all())
    missing = sorted(names - set(found))
    if missing:
        raise InvalidRequest(f"Some users do not exist: {', '.join(missing)}")
    return found


@db.transactional
def update_user_roles(*, actor: User, group_name: str, relations: Mapping[str, Role]) -> None:
    """Add users to the group or change their roles (group Admins only)."""
    group = access.require_group(group_name)
    access.require_role(actor, group, Role.Admin)
    if not relations:
        raise InvalidRequest("No users given: relations is empty")
    ids = _require_users(relations)
    existing = {
        row.user_id: row
        for row in db.session.scalars(
            sa.select(UserGroup).where(UserGroup.group_id == group.id, UserGroup.user_id.in_(ids.values()))
        )
    }
    for name, role in relations.items():
        row = existing.get(ids[name])
        if row is None:
            db.session.add(UserGroup(user_id=ids[name], group_id=group.id, role=role))
        else:
            row.role = role
    db.session.flush()


@db.transactional
def remove_users(*, actor: User, group_name: str, usernames: Iterable[str]) -> None:
    """Remove users from the group (group Admins only); users who are not members are ignored."""
    group = access.require_group(group_name)
    access.require_role(actor, group, Role.Admin)
    names = set(usernames)
    if not names:
        raise InvalidRequest("No users given: pass users=a,b or users=a&users=b")
    ids = _require_users(names)
    db.session.execute(
        sa.delete(UserGroup).where(UserGroup.group_id == group.id, UserGroup.user_id.in_(ids.values()))
    )
