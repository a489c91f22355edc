"""Group attachments: upload URLs within the quota, metadata, queries, downloads and deletes."""

from __future__ import annotations

import uuid as uuid_mod
from dataclasses import dataclass, field

import sqlalchemy as sa

from app import db
from app.errors import InvalidRequest, NotFound
from app.models import Attachment, Group, Role, User, Worker
from app.services import access, deletion, quota
from app.services import storage as storage_service
from app.services.storage import AttachmentDownload, Download, Upload
from app.storage import ATTACHMENTS, attachment_key, validate_attachment_key


@dataclass(frozen=True)
class AttachmentPage:
    """Attachments matching a query (or only their count), in one group."""

    group_name: str
    count: int
    attachments: list[Attachment]


@dataclass(frozen=True)
class AttachmentDownloads:
    """The downloads of a batch answer, in one group."""

    group_name: str
    downloads: list[AttachmentDownload]


@dataclass(frozen=True)
class AttachmentDeletion:
    """How many attachments a batch delete removed, and the keys it could not delete."""

    group_name: str
    deleted_count: int
    failed_keys: list[str] = field(default_factory=list)


def _get(group: Group, key: str, *, lock: bool = False) -> Attachment | None:
    query = sa.select(Attachment).where(Attachment.group_id == group.id, Attachment.key == key)
    if lock:
        query = query.with_for_update()
    return db.session.scalar(query.execution_options(populate_existing=True))


def _require(group: Group, key: str) -> Attachment:
    validate_attachment_key(key)
    row = _get(group, key)
    if row is None:
        raise NotFound(f"Attachment {key} not found in group {group.group_name}")
    return row


def _member_group(actor: User, group_name: str, minimum: Role) -> Group:
    group = access.require_group(group_name)
    access.require_role(actor, group, minimum)
    return group


@db.transactional
def upload_attachment(*, actor: User, group_name: str, key: str, content_length: object) -> Upload:
    """Book an attachment against the group's quota (Write needed) and return a presigned PUT URL."""
    group = _member_group(actor, group_name, Role.Write)
    object_key = attachment_key(group.group_name, key)
    length = quota.check_content_length(content_length)
    quota.lock_group(group.id)
    row = _get(group, key, lock=True)
    quota.book(group_id=group.id, old_size=row.size if row else None, new_size=length)
    if row is None:
        db.session.add(Attachment(group_id=group.id, key=key, size=length))
    else:
        row.size = length
        row.updated_at = db.utcnow()
    deletion.cancel(ATTACHMENTS, object_key)
    db.session.flush()
    return storage_service.upload(ATTACHMENTS, object_key, length, exist=row is not None)


def get_attachment(*, actor: User, group_name: str, key: str) -> Attachment:
    """One attachment's metadata (any member)."""
    return _require(_member_group(actor, group_name, Role.Read), key)


def query_attachments(
    *, actor: User, group_name: str, key: str | None, limit: int | None, offset: int | None, count: bool
) -> AttachmentPage:
    """Attachments whose key contains `key` (literally), oldest first; `count` counts all matches."""
    group = _member_group(actor, group_name, Role.Read)
    query = _matching(group, key)
    if count:
        total = db.session.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
        return AttachmentPage(group_name=group.group_name, count=total, attachments=[])
    rows = list(db.session.scalars(_page(query, limit, offset)))
    return AttachmentPage(group_name=group.group_name, count=len(rows), attachments=rows)


def download_attachment(*, actor: User, group_name: str, key: str) -> Download:
    """The GET URL of one attachment (any member)."""
    group = _member_group(actor, group_name, Role.Read)
    row = _require(group, key)
    return storage_service.download(ATTACHMENTS, attachment_key(group.group_name, key), row.size)


@db.transactional
def delete_attachment(*, actor: User, group_name: str, key: str, admin: bool = False) -> None:
    """Delete one attachment: Write in the group and not changed within the hour, unless `admin`."""
    group = access.require_group(group_name)
    if not admin:
        access.require_role(actor, group, Role.Write)
    quota.lock_group(group.id)
    row = _require(group, key)
    deletion.check_deletable(row, admin=admin)
    deletion.release([deletion.Doomed(ATTACHMENTS, attachment_key(group.group_name, key), row)])


def download_by_filter(
    *, actor: User, group_name: str, key: str | None, limit: int | None, offset: int | None
) -> AttachmentDownloads:
    """URLs of the attachments whose key contains `key` (any member)."""
    group = _member_group(actor, group_name, Role.Read)
    rows = db.session.scalars(_page(_matching(group, key), limit, offset))
    return AttachmentDownloads(group_name=group.group_name, downloads=[_item(group, row) for row in rows])


def download_by_keys(*, actor: User, group_name: str, keys: list[str]) -> AttachmentDownloads:
    """URLs of the named attachments that exist (any member); missing keys are left out."""
    group = _member_group(actor, group_name, Role.Read)
    if not keys:
        raise InvalidRequest("keys cannot be empty")
    rows = db.session.scalars(
        sa.select(Attachment)
        .where(Attachment.group_id == group.id, Attachment.key.in_(set(keys)))
        .order_by(Attachment.id)
    )
    return AttachmentDownloads(group_name=group.group_name, downloads=[_item(group, row) for row in rows])


@db.transactional
def delete_by_filter(
    *, actor: User, group_name: str, key: str | None, limit: int | None, offset: int | None
) -> AttachmentDeletion:
    """Delete the attachments whose key contains `key` (Write); those changed within the hour stay."""
    group = _member_group(actor, group_name, Role.Write)
    quota.lock_group(group.id)
    rows = db.session.scalars(
        _page(_matching(group, key), limit, offset).execution_options(populate_existing=True)
    )
    doomed = [
        deletion.Doomed(ATTACHMENTS, attachment_key(group.group_name, r.key), r)
        for r in rows
        if not deletion.too_recent(r)
    ]
    deletion.release(doomed)
    return AttachmentDeletion(group_name=group.group_name, deleted_count=len(doomed))


@db.transactional
def delete_by_keys(*, actor: User, group_name: str, keys: list[str]) -> AttachmentDeletion:
    """Delete the named attachments (Write); missing and too recent keys are reported in failed_keys."""
    group = _member_group(actor, group_name, Role.Write)
    if not keys:
        raise InvalidRequest("keys cannot be empty")
    wanted = list(dict.fromkeys(keys))
    quota.lock_group(group.id)
    found = {
        r.key: r
        for r in db.session.scalars(
            sa.select(Attachment)
            .where(Attachment.group_id == group.id, Attachment.key.in_(wanted))
            .execution_options(populate_existing=True)
        )
    }
    doomed, failed = [], []
    for key in wanted:
        row = found.get(key)
        if row is None or deletion.too_recent(row):
            failed.append(key)
        else:
            doomed.append(deletion.Doomed(ATTACHMENTS, attachment_key(group.group_name, key), row))
    deletion.release(doomed)
    return AttachmentDeletion(group_name=group.group_name, deleted_count=len(doomed), failed_keys=failed)


def worker_download_attachment(*, worker: Worker, task_uuid: uuid_mod.UUID, key: str) -> Download:
    """An attachment of the group of the task `worker` holds (404 if it does not hold that task)."""
    task = access.held_task(worker, task_uuid)
    row = _require(task.group, key)
    return storage_service.download(ATTACHMENTS, attachment_key(task.group.group_name, key), row.size)


def _matching(group: Group, key: str | None) -> sa.Select[Attachment]:
    query = sa.select(Attachment).where(Attachment.group_id == group.id)
    if key and db.is_postgres():
        escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(Attachment.key.like(f"%{escaped}%", escape="\\"))
    elif key:  # SQLite's LIKE ignores ASCII case; instr() is a literal, case-sensitive substring test
        query = query.where(sa.func.instr(Attachment.key, key) > 0)
    return query.order_by(Attachment.id)


def _page(query: sa.Select[Attachment], limit: int | None, offset: int | None) -> sa.Select[Attachment]:
    if offset:
        query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return query


def _item(group: Group, row: Attachment) -> AttachmentDownload:
    url = storage_service.batch_url(ATTACHMENTS, attachment_key(group.group_name, row.key), row.size)
    return AttachmentDownload(url=url, size=row.size, key=row.key)
