"""Object storage bookkeeping shared by artifacts and attachments: quotas, permissions, deletions, URLs.

Quota arithmetic runs in SQL under a row lock on the group (SELECT ... FOR UPDATE on PostgreSQL; SQLite's
BEGIN IMMEDIATE serialises writers), so concurrent uploads cannot push storage_used past storage_quota.
Sizes are booked when the upload URL is issued (as upstream); an overwrite re-books the new size exactly,
so a smaller overwrite lowers storage_used (ARCHITECTURE 6.12).
"""

from __future__ import annotations

import logging
import time
import uuid as uuid_mod
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app import db
from app.db import utcnow
from app.errors import InvalidRequest, NotFound, QuotaExceeded
from app.jobs.enqueue import enqueue
from app.models import (
    ActiveTask,
    ArchivedTask,
    Artifact,
    Attachment,
    Group,
    Role,
    StorageDeletion,
    User,
)
from app.models.enums import ArtifactContentType, GroupState
from app.services import membership
from app.services import task as task_service
from app.storage import ARTIFACTS, ATTACHMENTS, MAX_CONTENT_LENGTH, Storage, get_storage

log = logging.getLogger(__name__)

RECENT_CHANGE = timedelta(hours=1)  # non-admin deletes of objects changed more recently are refused
DELETE_JOB = "jobs.storage.delete_pending"
DELETE_RETRIES = 3


def store() -> Storage:
    return get_storage(current_app.config)


# ---------------------------------------------------------------- groups, tasks, roles


require_group = membership.require_group
require_role = membership.require_role
role_in = membership.user_role
find_task = task_service.find_task


def may(user: User, group: Group, minimum: Role, *, admin_exempt: bool = False) -> bool:
    """Whether `user` holds at least `minimum` in `group` (site admins pass where `admin_exempt`)."""
    if admin_exempt and user.admin:
        return True
    role = role_in(user, group.id)
    return role is not None and role >= minimum


def require_task(task_uuid: uuid_mod.UUID) -> ActiveTask | ArchivedTask:
    task = find_task(task_uuid)
    if task is None:
        raise NotFound(f"Task with uuid {task_uuid} not found")
    return task


# ---------------------------------------------------------------- quota


def check_content_length(content_length) -> int:
    if isinstance(content_length, bool) or not isinstance(content_length, int):
        raise InvalidRequest("Invalid content_length: must be an integer")
    if not 0 <= content_length <= MAX_CONTENT_LENGTH:
        raise InvalidRequest(f"Invalid content_length: must be between 0 and {MAX_CONTENT_LENGTH}")
    return content_length


def lock_group(group_id: int) -> Group:
    """The group row, locked until the end of the transaction, with fresh counters."""
    return db.session.scalars(
        sa.select(Group)
        .where(Group.id == group_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def lock_groups(group_ids) -> None:
    """Lock several groups in a fixed order, so that concurrent batch operations cannot deadlock."""
    for group_id in sorted(set(group_ids)):
        lock_group(group_id)


def book(*, group_id: int, old_size: int | None, new_size: int) -> None:
    """Charge the group for an object of `new_size` replacing one of `old_size` (None: new object)."""
    group = lock_group(group_id)
    if group.state != GroupState.Active:
        raise InvalidRequest(f"Group {group.group_name} is not active")
    delta = new_size - (old_size or 0)
    if delta > 0 and group.storage_used + delta > group.storage_quota:
        raise QuotaExceeded(
            f"Resource quota exceeded: group {group.group_name} uses {group.storage_used} of "
            f"{group.storage_quota} bytes and this upload needs {delta} more"
        )
    _add_used(group_id, delta)


def _add_used(group_id: int, delta: int) -> None:
    new_value = Group.storage_used + delta
    db.session.execute(
        sa.update(Group)
        .where(Group.id == group_id)
        .values(storage_used=sa.case((new_value < 0, 0), else_=new_value))
        .execution_options(synchronize_session=False)
    )


def cancel_pending_deletion(bucket: str, key: str) -> None:
    """A re-upload of a key whose deletion is still queued must not lose the new object to that deletion."""
    db.session.execute(
        sa.delete(StorageDeletion).where(StorageDeletion.bucket == bucket, StorageDeletion.key == key)
    )


# ---------------------------------------------------------------- deletion


def too_recent(row: Artifact | Attachment) -> bool:
    return row.updated_at > utcnow() - RECENT_CHANGE


def check_deletable(row: Artifact | Attachment, *, admin: bool) -> None:
    """Non-admins may not delete an object changed within the last hour (400)."""
    if not admin and too_recent(row):
        raise InvalidRequest("Objects updated in the last hour cannot be deleted; try again later")


def release(rows: list[tuple[str, str, Artifact | Attachment]]) -> None:
    """Delete metadata rows, lower storage_used at once, queue the objects for deletion from the store.

    `rows` are (bucket, object key, row), read after their groups were locked (`lock_groups`), so that
    sizes are current and no concurrent delete or overwrite can make the arithmetic wrong. The objects go
    after commit: now (best effort) and by the housekeeping job `jobs.storage.delete_pending` for the rest.
    """
    if not rows:
        return
    per_group: dict[int, int] = {}
    for _bucket, _key, row in rows:
        per_group[row.group_id] = per_group.get(row.group_id, 0) + row.size
    lock_groups(per_group)
    for group_id, size in per_group.items():
        _add_used(group_id, -size)
    deletions = []
    for bucket, key, row in rows:
        db.session.delete(row)
        deletion = StorageDeletion(bucket=bucket, key=key, group_id=row.group_id, size=row.size)
        db.session.add(deletion)
        deletions.append(deletion)
    db.session.flush()
    ids = [d.id for d in deletions]

    def _after_commit():
        enqueue(DELETE_JOB)
        if len(ids) <= 1000:
            process_pending_deletions(ids=ids)

    db.after_commit(_after_commit)


@db.transactional
def process_pending_deletions(*, limit: int = 1000, ids: list[int] | None = None) -> int:
    """Delete queued objects from the store (with retries) and drop their rows; return how many were removed.

    Rows whose object failed to delete stay, with attempts and last_error updated, for the next run.
    The housekeeping job `jobs.storage.delete_pending` calls this.
    """
    query = sa.select(StorageDeletion).order_by(StorageDeletion.id).limit(limit)
    if ids is not None:
        query = query.where(StorageDeletion.id.in_(ids))
    if db.is_postgres():
        query = query.with_for_update(skip_locked=True)
    rows = list(db.session.scalars(query))
    storage = store()
    removed = 0
    for bucket in (ARTIFACTS, ATTACHMENTS):
        batch = [r for r in rows if r.bucket == bucket]
        live = {r.key for r in batch if _has_metadata(bucket, r.key)}  # re-uploaded since: keep the object
        pending = [r.key for r in batch if r.key not in live]
        failed: set[str] = set()
        error = ""
        for attempt in range(DELETE_RETRIES if pending else 0):
            try:
                failed = set(storage.delete(bucket, pending))
                error = "the store refused the deletion"
            except Exception as exc:  # noqa: BLE001 - any store error is retried, then recorded on the row
                failed, error = set(pending), f"{type(exc).__name__}: {exc}"
            if not failed:
                break
            pending = [k for k in pending if k in failed]
            time.sleep(0.2 * (attempt + 1))
        for row in batch:
            if row.key in failed:
                row.attempts += 1
                row.last_error = error[:1000]
            else:
                db.session.delete(row)
                removed += 1
    if removed:
        log.info("deleted %d objects from the store", removed)
    return removed


def _has_metadata(bucket: str, key: str) -> bool:
    if bucket == ATTACHMENTS:
        group_name, _, rest = key.partition("/")
        return bool(
            db.session.scalar(
                sa.select(sa.literal(True))
                .select_from(Attachment)
                .join(Group, Group.id == Attachment.group_id)
                .where(Group.group_name == group_name, Attachment.key == rest)
            )
        )
    task_part, _, filename = key.partition("/")
    try:
        task_uuid = uuid_mod.UUID(task_part)
        content_type = next(ct for ct in ArtifactContentType if ct.filename == filename)
    except (ValueError, StopIteration):
        return False
    return bool(
        db.session.scalar(
            sa.select(sa.literal(True)).where(
                Artifact.task_uuid == task_uuid, Artifact.content_type == content_type
            )
        )
    )


# ---------------------------------------------------------------- URLs


def download(bucket: str, key: str, size: int, *, batch: bool = False) -> dict:
    """The `{url, size}` body of every download answer."""
    return {"url": store().presign_get(bucket, key, size, batch=batch), "size": size}


def worker_upload_artifact(*, worker, task, content_type, content_length: int) -> str:
    """The report op Upload: book the artifact against the task's group and return a presigned PUT URL.

    The caller (the report service) has already checked that `worker` holds `task`.
    """
    from app.services import artifact as artifact_service

    return artifact_service.book_artifact_upload(
        task=task, content_type=content_type, content_length=content_length
    )
