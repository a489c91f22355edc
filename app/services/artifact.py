"""Task artifacts: upload URLs within the group's quota, downloads, deletes (single, by filter, by uuids).

Per attempt (issue #12 item 6): an agent's upload goes to its attempt's own key (`artifact_key(..., n)`),
a user's to the task's plain key (attempt 0). The row booked last is the task's `current` one for its
content type, and each commit makes the committing attempt's rows current (lifecycle), so a stale
attempt's upload URL can only ever write a key the task does not show. Downloads and batches read the
current rows; `attempt=N` reads an earlier attempt's; a delete removes the content type of every attempt.
"""

from __future__ import annotations

import uuid as uuid_mod
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from app import db
from app.errors import Forbidden, InvalidRequest, NotFound
from app.models import ActiveTask, ArchivedTask, Artifact, Group, Role, User, Worker
from app.models.enums import ArtifactContentType
from app.services import access, deletion, quota
from app.services import storage as storage_service
from app.services import task as task_service
from app.services.storage import ArtifactDownload, Download, Upload
from app.storage import ARTIFACTS, artifact_key


@dataclass(frozen=True)
class ArtifactDownloads:
    """The downloads of a batch answer."""

    downloads: list[ArtifactDownload]


@dataclass(frozen=True)
class ArtifactDeletion:
    """How many artifacts a batch delete removed, and the tasks whose artifact it could not delete."""

    deleted_count: int
    failed_uuids: list[uuid_mod.UUID] = field(default_factory=list)


def _content_type(value: object) -> ArtifactContentType:
    if isinstance(value, ArtifactContentType):
        return value
    try:
        return ArtifactContentType.parse(str(value))
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def _get(
    task_uuid: uuid_mod.UUID,
    content_type: ArtifactContentType,
    *,
    lock: bool = False,
    attempt: int | None = None,
) -> Artifact | None:
    """The task's current artifact of `content_type`, or that of one attempt (0: the user's upload)."""
    query = sa.select(Artifact).where(Artifact.task_uuid == task_uuid, Artifact.content_type == content_type)
    query = query.where(Artifact.current.is_(True) if attempt is None else Artifact.attempt == attempt)
    if lock:
        query = query.with_for_update()
    return db.session.scalar(query.execution_options(populate_existing=True))


def _every_attempt(task_uuid: uuid_mod.UUID, content_type: ArtifactContentType) -> list[Artifact]:
    query = sa.select(Artifact).where(Artifact.task_uuid == task_uuid, Artifact.content_type == content_type)
    return list(db.session.scalars(query.order_by(Artifact.id).execution_options(populate_existing=True)))


def _require(
    task_uuid: uuid_mod.UUID, content_type: ArtifactContentType, attempt: int | None = None
) -> Artifact:
    row = _get(task_uuid, content_type, attempt=attempt)
    if row is None:
        of = "" if attempt is None else f" (attempt {attempt})"
        raise NotFound(f"Artifact {content_type.wire} of task {task_uuid}{of} not found")
    return row


def key_of(row: Artifact) -> str:
    """The object key of an artifact row."""
    return artifact_key(row.task_uuid, row.content_type, row.attempt)


def _require_task(task_uuid: uuid_mod.UUID) -> ActiveTask | ArchivedTask:
    task = task_service.find_task(task_uuid)
    if task is None:
        raise NotFound(f"Task with uuid {task_uuid} not found")
    return task


def _book_upload(
    task: ActiveTask | ArchivedTask, content_type: object, content_length: object, attempt: int = 0
) -> Upload:
    """Book the artifact's bytes against the task's group (exact on overwrite); return a PUT URL for the
    key of `attempt` (0: a user's upload), whose row becomes the task's current one."""
    kind = _content_type(content_type)
    length = quota.check_content_length(content_length)
    quota.lock_group(task.group_id)
    row = _get(task.uuid, kind, lock=True, attempt=attempt)
    quota.book(group_id=task.group_id, old_size=row.size if row else None, new_size=length)
    if row is None or not row.current:
        # the one current row per content type: the previous one steps back first (the partial index)
        db.session.execute(
            sa.update(Artifact)
            .where(Artifact.task_uuid == task.uuid, Artifact.content_type == kind, Artifact.current.is_(True))
            .values(current=False)
            .execution_options(synchronize_session=False)
        )
        db.session.flush()
    if row is None:
        db.session.add(
            Artifact(
                task_uuid=task.uuid, content_type=kind, size=length, group_id=task.group_id, attempt=attempt,
                current=True,
            )
        )  # fmt: skip
    else:
        row.size = length
        row.current = True
        row.updated_at = db.utcnow()
    key = artifact_key(task.uuid, kind, attempt)
    deletion.cancel(ARTIFACTS, key)
    task.updated_at = db.utcnow()
    db.session.flush()
    return storage_service.upload(ARTIFACTS, key, length, exist=row is not None)


@db.transactional
def upload_artifact(
    *, actor: User, task_uuid: uuid_mod.UUID, content_type: object, content_length: object
) -> Upload:
    """A user uploads an artifact of a task: needs Write in the task's group; returns the PUT URL."""
    task = _require_task(task_uuid)
    access.require_role(actor, task.group, Role.Write)
    return _book_upload(task, content_type, content_length)


@db.transactional
def issue_worker_upload(*, task: ActiveTask, content_type: object, content_length: object) -> Upload:
    """The report op Upload: book an artifact of `task` against its group; returns the PUT URL.

    The agent protocol calls this for the task it has locked and checked the reporting worker holds; the
    object goes to the key of the task's current attempt.
    """
    return _book_upload(task, content_type, content_length, attempt=task.attempt)


def download_artifact(
    *, actor: User, task_uuid: uuid_mod.UUID, content_type: object, attempt: int | None = None
) -> Download:
    """The GET URL of one artifact (the current one, or that of `attempt`): needs membership in the task's
    group (admins exempt)."""
    kind = _content_type(content_type)
    task = _require_task(task_uuid)
    access.require_role(actor, task.group, Role.Read, admin_exempt=True)
    row = _require(task_uuid, kind, attempt)
    return storage_service.download(ARTIFACTS, key_of(row), row.size)


@db.transactional
def delete_artifact(
    *, actor: User, task_uuid: uuid_mod.UUID, content_type: object, admin: bool = False
) -> None:
    """Delete one artifact, every attempt's: Write in the task's group and none changed within the hour,
    unless `admin`."""
    kind = _content_type(content_type)
    row = _get(task_uuid, kind)
    if not admin:
        task = _require_task(task_uuid)
        access.require_role(actor, task.group, Role.Write)
    if row is not None:
        quota.lock_group(row.group_id)
    rows = _every_attempt(task_uuid, kind)  # current sizes, now that no upload or delete can interleave
    if row is None or not rows:
        raise NotFound(f"Artifact {kind.wire} of task {task_uuid} not found")
    for each in rows:
        deletion.check_deletable(each, admin=admin)
    deletion.release([deletion.Doomed(ARTIFACTS, key_of(each), each) for each in rows])


# ---------------------------------------------------------------- batches


def download_by_uuids(*, actor: User, uuids: list[uuid_mod.UUID], content_type: object) -> ArtifactDownloads:
    """URLs of the given tasks' artifacts that exist and that the caller may read (others left out)."""
    kind = _content_type(content_type)
    if not uuids:
        raise InvalidRequest("uuids cannot be empty")
    rows = _rows_with_groups(
        sa.select(Artifact).where(Artifact.task_uuid.in_(set(uuids))), kind, current=True
    )
    return ArtifactDownloads(
        [_item(row) for row, group in rows if access.has_role(actor, group, Role.Read, admin_exempt=True)]
    )


def download_by_filter(*, actor: User, criteria: dict[str, Any], content_type: object) -> ArtifactDownloads:
    """URLs for the artifacts of the tasks matching a task filter (Read in the filter's group)."""
    kind = _content_type(content_type)
    _group, tasks = _filtered_task_uuids(actor, criteria, Role.Read)
    rows = _rows_with_groups(sa.select(Artifact).where(Artifact.task_uuid.in_(tasks)), kind, current=True)
    return ArtifactDownloads([_item(row) for row, _ in rows])


@db.transactional
def delete_by_uuids(*, actor: User, uuids: list[uuid_mod.UUID], content_type: object) -> ArtifactDeletion:
    """Delete the artifacts of the given tasks; missing, forbidden and too recent ones are reported failed."""
    kind = _content_type(content_type)
    if not uuids:
        raise InvalidRequest("uuids cannot be empty")
    wanted = list(dict.fromkeys(uuids))
    quota.lock_groups(
        db.session.scalars(
            sa.select(Artifact.group_id).where(Artifact.task_uuid.in_(wanted), Artifact.content_type == kind)
        )
    )
    found: dict[uuid_mod.UUID, list[tuple[Artifact, Group]]] = {}
    for row, group in _rows_with_groups(sa.select(Artifact).where(Artifact.task_uuid.in_(wanted)), kind):
        found.setdefault(row.task_uuid, []).append((row, group))
    doomed: list[deletion.Doomed] = []
    failed: list[uuid_mod.UUID] = []
    deleted = 0
    for task_uuid in wanted:
        entries = found.get(task_uuid, [])
        if (
            not any(row.current for row, _ in entries)
            or not access.has_role(actor, entries[0][1], Role.Write)
            or any(deletion.too_recent(row) for row, _ in entries)
        ):
            failed.append(task_uuid)
        else:
            doomed.extend(deletion.Doomed(ARTIFACTS, key_of(row), row) for row, _ in entries)
            deleted += 1
    deletion.release(doomed)
    return ArtifactDeletion(deleted_count=deleted, failed_uuids=failed)


@db.transactional
def delete_by_filter(*, actor: User, criteria: dict[str, Any], content_type: object) -> ArtifactDeletion:
    """Delete the artifacts of the tasks matching a task filter (Write in its group); too recent ones stay."""
    kind = _content_type(content_type)
    group, tasks = _filtered_task_uuids(actor, criteria, Role.Write)
    quota.lock_group(group.id)  # a task's artifacts are charged to (and locked with) its group
    rows = _rows_with_groups(sa.select(Artifact).where(Artifact.task_uuid.in_(tasks)), kind)
    kept = [row for row, _ in rows if not deletion.too_recent(row)]
    deletion.release([deletion.Doomed(ARTIFACTS, key_of(row), row) for row in kept])
    return ArtifactDeletion(deleted_count=sum(1 for row in kept if row.current))


def _rows_with_groups(
    query: sa.Select[Artifact], content_type: ArtifactContentType, *, current: bool = False
) -> list[tuple[Artifact, Group]]:
    """The artifacts of `query` of one content type with their groups: every attempt's, or the current."""
    joined = query.add_columns(Group).join(Group, Group.id == Artifact.group_id)
    if current:
        joined = joined.where(Artifact.current.is_(True))
    joined = joined.where(Artifact.content_type == content_type).order_by(Artifact.id)
    joined = joined.execution_options(populate_existing=True)
    return [(row, group) for row, group in db.session.execute(joined)]


def _item(row: Artifact) -> ArtifactDownload:
    key = key_of(row)
    return ArtifactDownload(
        url=storage_service.batch_url(ARTIFACTS, key, row.size), size=row.size, uuid=row.task_uuid
    )


# ---------------------------------------------------------------- workers


def worker_download_artifact(*, worker: Worker, task_uuid: uuid_mod.UUID, content_type: object) -> Download:
    """An artifact for the task `worker` holds: from that task's group or a group its creator belongs to."""
    kind = _content_type(content_type)
    running = access.held_task(worker)
    task = _require_task(task_uuid)
    if task.group_id != running.group_id and access.role_in(running.creator, task.group_id) is None:
        raise Forbidden(
            "Authentication error: Permission denied: the running task may not read this artifact"
        )
    row = _require(task_uuid, kind)
    return storage_service.download(ARTIFACTS, key_of(row), row.size)


# ---------------------------------------------------------------- the task filter (TasksQueryReq fields)


def _filtered_task_uuids(
    actor: User, criteria: dict[str, Any], minimum: Role
) -> tuple[Group, sa.CompoundSelect[uuid_mod.UUID]]:
    """The uuids of the tasks matching the task service's filter, in a group where `actor` has `minimum`."""
    group = access.require_group_role(
        actor, criteria.get("group_name"), minimum, admin_exempt=minimum == Role.Read
    )
    return group, sa.union_all(
        *(
            sa.select(model.uuid).where(*task_service.filter_conditions(model, group, criteria))
            for model in (ActiveTask, ArchivedTask)
        )
    )
