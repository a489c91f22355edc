"""Group lookups and role checks shared by the task and worker services."""

from __future__ import annotations

import sqlalchemy as sa

from app import db
from app.errors import Forbidden, InvalidRequest, NotFound
from app.models import Group, Role, User, UserGroup


def find_group(name: str) -> Group | None:
    return db.session.scalar(sa.select(Group).where(Group.group_name == name))


def require_group(name: str) -> Group:
    """The group called `name`, or 404."""
    group = find_group(name)
    if group is None:
        raise NotFound(f"Group {name} not found")
    return group


def groups_by_name(names) -> dict[str, Group]:
    """Every named group, or 400 naming the missing ones (groups named in a request body)."""
    names = set(names)
    found = {g.group_name: g for g in db.session.scalars(sa.select(Group).where(Group.group_name.in_(names)))}
    missing = sorted(names - set(found))
    if missing:
        raise InvalidRequest(f"Some groups do not exist: {', '.join(missing)}")
    return found


def user_role(user: User, group_id: int) -> Role | None:
    return db.session.scalar(
        sa.select(UserGroup.role).where(UserGroup.user_id == user.id, UserGroup.group_id == group_id)
    )


def require_role(user: User, group: Group, minimum: Role, *, admin_exempt: bool = False) -> Role | None:
    """403 unless `user` holds at least `minimum` in `group` (site admins pass when admin_exempt)."""
    role = user_role(user, group.id)
    if admin_exempt and user.admin:
        return role
    if role is None or role < minimum:
        raise Forbidden(
            f"Authentication error: Permission denied (needs {minimum.name} in group {group.group_name})"
        )
    return role


def resolve_group(user: User, name: str | None, minimum: Role, *, admin_exempt: bool = False) -> Group:
    """The named group (default: the user's personal group), checked for `minimum`."""
    group = require_group(name or user.username)
    require_role(user, group, minimum, admin_exempt=admin_exempt)
    return group
