"""Who may do what: the one access vocabulary every service uses (groups by name, roles, worker grants).

A user holds a `Role` in a group (`UserGroup`); a group holds a `Role` on a worker (`GroupWorker`). Roles
are ordered (Read < Write < Admin), so a rule is "at least R". Site admins are exempt only where the rule
says so (`admin_exempt`): reads of tasks, artifacts and workers (upstream 4.3), never writes. A missing
group is 404; a group named in a request body that does not exist is 400; a missing or too low role is
403 (upstream `PermissionDenied`). A worker token reads only for the task its worker holds (`held_task`).
"""

from __future__ import annotations

import functools
import uuid as uuid_mod
from collections.abc import Iterable

import sqlalchemy as sa

from app import db
from app.errors import Forbidden, InvalidRequest, NotFound
from app.models import ActiveTask, Group, GroupWorker, Role, User, UserGroup, Worker
from app.prepared import prepared


def find_group(name: str, *, for_update: bool = False) -> Group | None:
    """The group called `name`, or None."""
    query = sa.select(Group).where(Group.group_name == name)
    return db.session.scalar(db.lock_rows(query, Group) if for_update else query)


def require_group(name: str, *, for_update: bool = False) -> Group:
    """The group called `name`, or 404."""
    group = find_group(name, for_update=for_update)
    if group is None:
        raise NotFound(f"Group {name} not found")
    return group


def require_groups(names: Iterable[str]) -> dict[str, Group]:
    """Every named group by name, or 400 naming the missing ones (groups named in a request body)."""
    wanted = set(names)
    found = {
        g.group_name: g for g in db.session.scalars(sa.select(Group).where(Group.group_name.in_(wanted)))
    }
    missing = sorted(wanted - set(found))
    if missing:
        raise InvalidRequest(f"Some groups do not exist: {', '.join(missing)}")
    return found


def role_in(user: User, group: Group | int) -> Role | None:
    """The user's role in the group (a row or its id), or None when not a member."""
    group_id = group if isinstance(group, int) else group.id
    return db.session.scalar(
        sa.select(UserGroup.role).where(UserGroup.user_id == user.id, UserGroup.group_id == group_id)
    )


def has_role(user: User, group: Group, minimum: Role, *, admin_exempt: bool = False) -> bool:
    """Whether `user` holds at least `minimum` in `group` (site admins pass where `admin_exempt`)."""
    if admin_exempt and user.admin:
        return True
    role = role_in(user, group)
    return role is not None and role >= minimum


def require_role(user: User, group: Group, minimum: Role, *, admin_exempt: bool = False) -> Role | None:
    """The user's role in `group` if at least `minimum`, else 403 (site admins pass where `admin_exempt`)."""
    role = role_in(user, group)
    if admin_exempt and user.admin:
        return role
    if role is None or role < minimum:
        raise Forbidden(
            f"Authentication error: Permission denied (needs {minimum.name} in group {group.group_name})"
        )
    return role


@functools.cache
def _group_with_role() -> sa.Select[Group, Role]:
    """The named group with the user's role in it (outer join), both bound at execution: built once, as
    most requests run it (its compiled form is then found by a memoized cache key)."""
    member = sa.and_(UserGroup.group_id == Group.id, UserGroup.user_id == sa.bindparam("user_id"))
    return prepared(
        sa.select(Group, UserGroup.role)
        .outerjoin(UserGroup, member)
        .where(Group.group_name == sa.bindparam("group_name"))
    )


def require_group_role(user: User, name: str | None, minimum: Role, *, admin_exempt: bool = False) -> Group:
    """The named group (default: the user's personal group), 404 if missing, 403 below `minimum`.

    One statement: the group with the user's role in it (outer join)."""
    name = name or user.username
    row = db.session.execute(_group_with_role(), {"user_id": user.id, "group_name": name}).first()
    if row is None:
        raise NotFound(f"Group {name} not found")
    group, role = row
    if not (admin_exempt and user.admin) and (role is None or role < minimum):
        raise Forbidden(
            f"Authentication error: Permission denied (needs {minimum.name} in group {group.group_name})"
        )
    return group


def worker_role(worker: Worker, group: Group | int) -> Role | None:
    """The role `group` (a row or its id) holds on `worker`, or None when it holds none."""
    group_id = group if isinstance(group, int) else group.id
    return db.session.scalar(
        sa.select(GroupWorker.role).where(
            GroupWorker.worker_id == worker.id, GroupWorker.group_id == group_id
        )
    )


def has_worker_access(user: User, worker: Worker, *, worker_min: Role, user_min: Role) -> bool:
    """Creator, or `user_min` in a group that holds `worker_min` on the worker (upstream GroupWorkerRole)."""
    if worker.creator_id == user.id:
        return True
    related = sa.exists().where(
        GroupWorker.worker_id == worker.id,
        GroupWorker.role >= worker_min,
        UserGroup.group_id == GroupWorker.group_id,
        UserGroup.user_id == user.id,
        UserGroup.role >= user_min,
    )
    return bool(db.session.scalar(sa.select(related)))


def held_task(worker: Worker, task_uuid: uuid_mod.UUID | None = None) -> ActiveTask:
    """The task `worker` holds (and whose uuid is `task_uuid`, if given), or 404: what a worker may read."""
    query = sa.select(ActiveTask).where(ActiveTask.assigned_worker == worker.id)
    if task_uuid is not None:
        query = query.where(ActiveTask.uuid == task_uuid)
    task = db.session.scalars(query.limit(1)).first()
    if task is None:
        what = f"Task with uuid {task_uuid}" if task_uuid else "A task held by this worker"
        raise NotFound(f"{what} not found")
    return task
