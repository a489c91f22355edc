"""Task artifacts: upload URLs within the group's quota, downloads, deletes (single, by filter, by uuids)."""

from __future__ import annotations

import uuid as uuid_mod
from typing import Any

import sqlalchemy as sa

from app import db
from app.errors import Forbidden, InvalidRequest, NotFound
from app.models import ActiveTask, ArchivedTask, Artifact, Group, Role, User, Worker
from app.models.enums import ArtifactContentType
from app.services import membership
from app.services import storage as storage_service
from app.services import task as task_service
from app.storage import ARTIFACTS, artifact_key


def _content_type(value) -> ArtifactContentType:
    if isinstance(value, ArtifactContentType):
        return value
    try:
        return ArtifactContentType.parse(str(value))
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def _get(
    task_uuid: uuid_mod.UUID, content_type: ArtifactContentType, *, lock: bool = False
) -> Artifact | None:
    query = sa.select(Artifact).where(Artifact.task_uuid == task_uuid, Artifact.content_type == content_type)
    if lock:
        query = query.with_for_update()
    return db.session.scalar(query.execution_options(populate_existing=True))


def _require(task_uuid: uuid_mod.UUID, content_type: ArtifactContentType) -> Artifact:
    row = _get(task_uuid, content_type)
    if row is None:
        raise NotFound(f"Artifact {content_type.wire} of task {task_uuid} not found")
    return row


@db.transactional
def book_artifact_upload(*, task: ActiveTask | ArchivedTask, content_type, content_length: int) -> str:
    """Book `content_length` bytes against the task's group (exact on overwrite); return a PUT URL."""
    content_type = _content_type(content_type)
    content_length = storage_service.check_content_length(content_length)
    storage_service.lock_group(task.group_id)
    row = _get(task.uuid, content_type, lock=True)
    storage_service.book(group_id=task.group_id, old_size=row.size if row else None, new_size=content_length)
    if row is None:
        row = Artifact(
            task_uuid=task.uuid, content_type=content_type, size=content_length, group_id=task.group_id
        )
        db.session.add(row)
    else:
        row.size = content_length
        row.updated_at = db.utcnow()
    key = artifact_key(task.uuid, content_type)
    storage_service.cancel_pending_deletion(ARTIFACTS, key)
    task.updated_at = db.utcnow()
    db.session.flush()
    return storage_service.store().presign_put(ARTIFACTS, key, content_length)


@db.transactional
def upload_artifact(*, actor: User, task_uuid: uuid_mod.UUID, content_type, content_length: int) -> str:
    """A user uploads an artifact of a task: needs Write in the task's group."""
    task = storage_service.require_task(task_uuid)
    storage_service.require_role(actor, task.group, Role.Write)
    return book_artifact_upload(task=task, content_type=content_type, content_length=content_length)


def download_artifact(*, actor: User, task_uuid: uuid_mod.UUID, content_type) -> dict:
    """`{url, size}` of one artifact: needs membership in the task's group (admins exempt)."""
    content_type = _content_type(content_type)
    task = storage_service.require_task(task_uuid)
    storage_service.require_role(actor, task.group, Role.Read, admin_exempt=True)
    row = _require(task_uuid, content_type)
    return storage_service.download(ARTIFACTS, artifact_key(task_uuid, content_type), row.size)


@db.transactional
def delete_artifact(*, actor: User, task_uuid: uuid_mod.UUID, content_type, admin: bool = False) -> None:
    """Delete one artifact: Write in the task's group and not changed within the hour, unless `admin`."""
    content_type = _content_type(content_type)
    row = _get(task_uuid, content_type)
    if not admin:
        task = storage_service.require_task(task_uuid)
        storage_service.require_role(actor, task.group, Role.Write)
    if row is not None:
        storage_service.lock_group(row.group_id)
        row = _get(task_uuid, content_type)  # current size, now that no upload or delete can interleave
    if row is None:
        raise NotFound(f"Artifact {content_type.wire} of task {task_uuid} not found")
    storage_service.check_deletable(row, admin=admin)
    storage_service.release([(ARTIFACTS, artifact_key(task_uuid, content_type), row)])


# ---------------------------------------------------------------- batches


def download_by_uuids(*, actor: User, uuids: list[uuid_mod.UUID], content_type) -> list[dict]:
    """URLs of the given tasks' artifacts that exist and that the caller may read (others left out)."""
    content_type = _content_type(content_type)
    if not uuids:
        raise InvalidRequest("uuids cannot be empty")
    rows = _rows_with_groups(sa.select(Artifact).where(Artifact.task_uuid.in_(set(uuids))), content_type)
    return [
        _item(row, group)
        for row, group in rows
        if storage_service.may(actor, group, Role.Read, admin_exempt=True)
    ]


def download_by_filter(*, actor: User, criteria: dict[str, Any], content_type) -> list[dict]:
    """URLs for the artifacts of the tasks matching a task filter (Read in the filter's group)."""
    content_type = _content_type(content_type)
    _group, tasks = _filtered_task_uuids(actor, criteria, Role.Read)
    rows = _rows_with_groups(sa.select(Artifact).where(Artifact.task_uuid.in_(tasks)), content_type)
    return [_item(row, group) for row, group in rows]


@db.transactional
def delete_by_uuids(
    *, actor: User, uuids: list[uuid_mod.UUID], content_type
) -> tuple[int, list[uuid_mod.UUID]]:
    """Delete the artifacts of the given tasks; missing, forbidden and too recent ones are reported failed."""
    content_type = _content_type(content_type)
    if not uuids:
        raise InvalidRequest("uuids cannot be empty")
    wanted = list(dict.fromkeys(uuids))
    storage_service.lock_groups(
        db.session.scalars(
            sa.select(Artifact.group_id).where(
                Artifact.task_uuid.in_(wanted), Artifact.content_type == content_type
            )
        )
    )
    found = {
        row.task_uuid: (row, group)
        for row, group in _rows_with_groups(
            sa.select(Artifact).where(Artifact.task_uuid.in_(wanted)), content_type
        )
    }
    doomed, failed = [], []
    for task_uuid in wanted:
        entry = found.get(task_uuid)
        if (
            entry is None
            or not storage_service.may(actor, entry[1], Role.Write)
            or storage_service.too_recent(entry[0])
        ):
            failed.append(task_uuid)
        else:
            doomed.append((ARTIFACTS, artifact_key(task_uuid, content_type), entry[0]))
    storage_service.release(doomed)
    return len(doomed), failed


@db.transactional
def delete_by_filter(*, actor: User, criteria: dict[str, Any], content_type) -> int:
    """Delete the artifacts of the tasks matching a task filter (Write in its group); too recent ones stay."""
    content_type = _content_type(content_type)
    group, tasks = _filtered_task_uuids(actor, criteria, Role.Write)
    storage_service.lock_group(group.id)  # a task's artifacts are charged to (and locked with) its group
    rows = _rows_with_groups(sa.select(Artifact).where(Artifact.task_uuid.in_(tasks)), content_type)
    doomed = [
        (ARTIFACTS, artifact_key(row.task_uuid, content_type), row)
        for row, _ in rows
        if not storage_service.too_recent(row)
    ]
    storage_service.release(doomed)
    return len(doomed)


def _rows_with_groups(query, content_type: ArtifactContentType) -> list[tuple[Artifact, Group]]:
    query = query.add_columns(Group).join(Group, Group.id == Artifact.group_id)
    query = query.where(Artifact.content_type == content_type).order_by(Artifact.id)
    query = query.execution_options(populate_existing=True)
    return [(row, group) for row, group in db.session.execute(query)]


def _item(row: Artifact, group: Group) -> dict:
    body = storage_service.download(
        ARTIFACTS, artifact_key(row.task_uuid, row.content_type), row.size, batch=True
    )
    return {"uuid": row.task_uuid, **body}


# ---------------------------------------------------------------- workers


def worker_download_artifact(*, worker: Worker, task_uuid: uuid_mod.UUID, content_type) -> dict:
    """An artifact for the task `worker` holds: from that task's group or a group its creator belongs to."""
    content_type = _content_type(content_type)
    running = held_task(worker)
    task = storage_service.require_task(task_uuid)
    if task.group_id != running.group_id and storage_service.role_in(running.creator, task.group_id) is None:
        raise Forbidden(
            "Authentication error: Permission denied: the running task may not read this artifact"
        )
    row = _require(task_uuid, content_type)
    return storage_service.download(ARTIFACTS, artifact_key(task_uuid, content_type), row.size)


def held_task(worker: Worker, task_uuid: uuid_mod.UUID | None = None) -> ActiveTask:
    """The task `worker` currently holds (and whose uuid is `task_uuid`, if given); 404 otherwise."""
    query = sa.select(ActiveTask).where(ActiveTask.assigned_worker == worker.id)
    if task_uuid is not None:
        query = query.where(ActiveTask.uuid == task_uuid)
    task = db.session.scalars(query.limit(1)).first()
    if task is None:
        what = f"Task with uuid {task_uuid}" if task_uuid else "A task held by this worker"
        raise NotFound(f"{what} not found")
    return task


# ---------------------------------------------------------------- the task filter (TasksQueryReq fields)


def _filtered_task_uuids(actor: User, criteria: dict[str, Any], minimum: Role):
    """The uuids of the tasks matching the task service's filter, in a group where `actor` has `minimum`."""
    group = membership.resolve_group(
        actor, criteria.get("group_name"), minimum, admin_exempt=minimum == Role.Read
    )
    return group, sa.union_all(
        *(
            sa.select(model.uuid).where(*task_service.filter_conditions(model, group, criteria))
            for model in (ActiveTask, ArchivedTask)
        )
    )
