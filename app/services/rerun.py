"""Re-runs (issue #14 item 2, issue #16): a committed task run once more, as a new attempt.

A re-run brings an archived task back to Ready through the lifecycle (`lifecycle.rerun`): same id (so the
same place in its queue: priority, then submission order), same uuid, its artifacts and attempt history
kept, its retry budget and loss count renewed. Only committed tasks can be re-run; it needs Write or
Admin in the task's group, as cancelling does. The archived rows are locked first (FOR UPDATE on
PostgreSQL), in id order, so two re-runs of one task never both succeed.
"""

from __future__ import annotations

import uuid as uuid_mod
from dataclasses import dataclass

import sqlalchemy as sa

from app import db
from app.errors import Conflict, NotFound
from app.models import ActiveTask, ArchivedTask, Role, User
from app.services import access, lifecycle
from app.services import task as task_service
from app.services.task import Filters


@dataclass(frozen=True)
class Rerun:
    """TasksRetryResp: how many committed tasks matching a filter were re-run."""

    retried_count: int
    group_name: str


def rerun_where(*conditions: sa.ColumnElement[bool]) -> list[ActiveTask]:
    """Re-run the archived tasks matching `conditions` (locked, in id order) in the caller's transaction."""
    stmt = sa.select(ArchivedTask).where(*conditions).order_by(ArchivedTask.id)
    stmt = stmt.execution_options(populate_existing=True)
    if db.is_postgres():
        stmt = stmt.with_for_update(of=ArchivedTask)
    return [lifecycle.rerun(archived) for archived in db.session.scalars(stmt).all()]


@db.transactional
def retry_task(*, actor: User, task_uuid: uuid_mod.UUID) -> ActiveTask:
    """Re-run one committed task (Write or Admin in its group); 409 while it has not been committed."""
    task = task_service.find_task(task_uuid)
    if task is None:
        raise NotFound(f"Task with uuid {task_uuid} not found")
    access.require_role(actor, task.group, Role.Write)
    if isinstance(task, ActiveTask):
        raise Conflict(f"Task {task_uuid} can not be re-run: it is {task.state.name}, not committed yet")
    rerun = rerun_where(ArchivedTask.uuid == task_uuid)
    if not rerun:
        raise Conflict(f"Task {task_uuid} can not be re-run: it is being re-run already")
    return rerun[0]


@db.transactional
def retry_tasks_by_filter(*, actor: User, filters: Filters) -> Rerun:
    """Re-run the committed tasks matching a task filter in one group (Write or Admin there)."""
    group = access.require_group_role(actor, filters.get("group_name"), Role.Write)
    rerun = rerun_where(*task_service.filter_conditions(ArchivedTask, group, filters))
    return Rerun(retried_count=len(rerun), group_name=group.group_name)
