"""The deletion queue: deleted artifacts and attachments leave the object store after their rows are gone.

A request that deletes objects only writes rows: it removes the metadata, frees the quota and queues each
object in `storage_deletions`, then (after commit) sends the job `jobs.storage.delete_pending`, which the
in-process runner or a Celery worker runs. The periodic schedule runs it too, so a lost send only delays.

Nothing calls the store inside a request, and nothing sleeps while holding a lock: each attempt is its own
short transaction that locks its queue rows (SKIP LOCKED on PostgreSQL), drops the rows of keys uploaded
again since (their new object stays), deletes the objects and the rows of the deleted ones. The row lock
is what fences a concurrent re-upload: `cancel` (called by uploads) waits for it, so an upload URL for a
key is never issued while that key's deletion is in flight. Retries back off between transactions;
objects that still fail stay queued with the attempt count and the error, for the next run.
"""

from __future__ import annotations

import logging
import time
import uuid as uuid_mod
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import NamedTuple

import sqlalchemy as sa

from app import db
from app.errors import InvalidRequest
from app.jobs.enqueue import enqueue
from app.models import Artifact, Attachment, Group, StorageDeletion
from app.models.enums import ArtifactContentType
from app.services import quota
from app.services import storage as storage_service
from app.storage import ARTIFACTS, ATTACHMENTS, PUT_URL_EXPIRES, parse_artifact_key

log = logging.getLogger(__name__)

RECENT_CHANGE = timedelta(hours=1)  # non-admin deletes of objects changed more recently are refused
DELETE_JOB = "jobs.storage.delete_pending"
DELETE_RETRIES = 3  # store calls per object and run; the schedule retries later runs
BATCH = 1000


class Doomed(NamedTuple):
    """An object to delete: its logical bucket, its object key and its metadata row."""

    bucket: str
    key: str
    row: Artifact | Attachment


def too_recent(row: Artifact | Attachment) -> bool:
    """Whether the object changed within RECENT_CHANGE (only admins may delete it then)."""
    return row.updated_at > db.utcnow() - RECENT_CHANGE


def check_deletable(row: Artifact | Attachment, *, admin: bool) -> None:
    """Non-admins may not delete an object changed within the last hour (400)."""
    if not admin and too_recent(row):
        raise InvalidRequest("Objects updated in the last hour cannot be deleted; try again later")


def release(doomed: Sequence[Doomed]) -> None:
    """Delete the metadata rows, free their bytes at once and queue their objects; send the job after commit.

    The rows must have been read after their groups were locked (`quota.lock_groups`), so that sizes are
    current and no concurrent delete or overwrite can make the arithmetic wrong.
    """
    if not doomed:
        return
    freed: dict[int, int] = {}
    for item in doomed:
        freed[item.row.group_id] = freed.get(item.row.group_id, 0) + item.row.size
    quota.refund(freed)
    now = db.utcnow()
    for item in doomed:
        db.session.delete(item.row)
        db.session.add(
            StorageDeletion(bucket=item.bucket, key=item.key, group_id=item.row.group_id, size=item.row.size)
        )
        # The last upload URL of the object may still be valid: a PUT replayed with it would leave an
        # object with no row and no charge, so the key is deleted once more after that URL has expired.
        url_expires = item.row.updated_at + timedelta(seconds=PUT_URL_EXPIRES + 60)
        if url_expires > now:
            db.session.add(
                StorageDeletion(bucket=item.bucket, key=item.key, group_id=item.row.group_id, size=0,
                                not_before=url_expires)
            )  # fmt: skip
    db.session.flush()
    db.after_commit(lambda: enqueue(DELETE_JOB))


def cancel(bucket: str, key: str) -> None:
    """Unqueue a key that is being uploaded again: its deletion must not take the new object.

    Waits for a deletion of that key in flight (its row lock), so the new object is written after it.
    """
    db.session.execute(
        sa.delete(StorageDeletion).where(StorageDeletion.bucket == bucket, StorageDeletion.key == key)
    )


def drain(*, limit: int = BATCH) -> int:
    """Work through the deletion queue until a run takes less than `limit`; return the objects removed."""
    total = 0
    while True:
        done = process_pending(limit=limit)
        total += done
        if done < limit:
            break
    if total:
        log.info("storage: deleted %d object(s)", total)
    return total


def process_pending(*, limit: int = BATCH) -> int:
    """Delete up to `limit` queued objects, retrying failures; return how many queue rows were removed.

    Rows whose object keeps failing stay, with attempts and last_error updated, for the next run.
    """
    pending = _queued_ids(limit)
    removed, error = 0, ""
    for attempt in range(DELETE_RETRIES):
        if not pending:
            break
        if attempt:
            time.sleep(0.2 * attempt)  # between transactions: no lock is held while waiting
        done, pending, error = _attempt(pending)
        removed += done
    if pending:
        _record_failure(pending, error)
    return removed


@db.transactional
def _queued_ids(limit: int) -> list[int]:
    due = sa.or_(StorageDeletion.not_before.is_(None), StorageDeletion.not_before <= db.utcnow())
    query = sa.select(StorageDeletion.id).where(due).order_by(StorageDeletion.id).limit(limit)
    return list(db.session.scalars(query))


@db.transactional
def _attempt(ids: list[int]) -> tuple[int, list[int], str]:
    """One store call per bucket for the rows `ids` still queued; return (rows removed, failed ids, error)."""
    query = sa.select(StorageDeletion).where(StorageDeletion.id.in_(ids)).order_by(StorageDeletion.id)
    if db.is_postgres():
        query = query.with_for_update(skip_locked=True)
    rows = list(db.session.scalars(query))
    store = storage_service.store()
    removed, failed, error = 0, [], ""
    for bucket in (ARTIFACTS, ATTACHMENTS):
        batch = [r for r in rows if r.bucket == bucket]
        live = _keys_with_metadata(bucket, [r.key for r in batch])  # uploaded again since: keep the object
        doomed = [r.key for r in batch if r.key not in live]
        refused: set[str] = set()
        if doomed:
            try:
                refused = set(store.delete(bucket, doomed))
                error = "the store refused the deletion" if refused else error
            except Exception as exc:  # noqa: BLE001 - any store error is retried, then recorded on the row
                refused, error = set(doomed), f"{type(exc).__name__}: {exc}"
        for row in batch:
            if row.key in refused:
                failed.append(row.id)
            else:
                db.session.delete(row)
                removed += 1
    return removed, failed, error


@db.transactional
def _record_failure(ids: list[int], error: str) -> None:
    db.session.execute(
        sa.update(StorageDeletion)
        .where(StorageDeletion.id.in_(ids))
        .values(attempts=StorageDeletion.attempts + 1, last_error=error[:1000])
        .execution_options(synchronize_session=False)
    )


def _keys_with_metadata(bucket: str, keys: Iterable[str]) -> set[str]:
    """The object keys among `keys` that have a metadata row again (re-uploaded after their deletion)."""
    keys = list(keys)
    if not keys:
        return set()
    if bucket == ATTACHMENTS:
        wanted = {tuple(key.split("/", 1)) for key in keys if "/" in key}
        found = db.session.execute(
            sa.select(Group.group_name, Attachment.key)
            .join(Group, Group.id == Attachment.group_id)
            .where(Group.group_name.in_({g for g, _ in wanted}), Attachment.key.in_({k for _, k in wanted}))
        )
        return {f"{group}/{key}" for group, key in found if (group, key) in wanted}
    parsed: dict[tuple[uuid_mod.UUID, ArtifactContentType, int], str] = {}
    for key in keys:
        named = parse_artifact_key(key)
        if named is not None:
            parsed[named] = key
    found_rows = db.session.execute(
        sa.select(Artifact.task_uuid, Artifact.content_type, Artifact.attempt).where(
            Artifact.task_uuid.in_({task_uuid for task_uuid, _, _ in parsed})
        )
    )
    return {parsed[(u, ct, n)] for u, ct, n in found_rows if (u, ct, n) in parsed}
