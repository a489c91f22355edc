"""Storage quota accounting: a group's storage_used is the bytes of its artifacts and attachments rows.

Arithmetic runs in SQL under a row lock on the group (FOR NO KEY UPDATE OF groups on PostgreSQL; SQLite's
BEGIN IMMEDIATE serialises writers), so concurrent uploads cannot push storage_used past storage_quota. Sizes
are booked when the upload URL is issued (as upstream); an overwrite re-books the new size exactly, so a
smaller overwrite lowers storage_used (ARCHITECTURE 6.12). Lock order: groups by ascending id, then the
object rows. The hourly job `jobs.quota.recompute` repairs any drift from the rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import sqlalchemy as sa

from app import db
from app.errors import InvalidRequest, QuotaExceeded
from app.models import Artifact, Attachment, Group
from app.models.enums import GroupState
from app.storage import MAX_CONTENT_LENGTH

log = logging.getLogger(__name__)


def check_content_length(content_length: object) -> int:
    """The declared object size as an int, or 400 (not an integer, negative or past S3's 5 TB)."""
    if isinstance(content_length, bool) or not isinstance(content_length, int):
        raise InvalidRequest("Invalid content_length: must be an integer")
    if not 0 <= content_length <= MAX_CONTENT_LENGTH:
        raise InvalidRequest(f"Invalid content_length: must be between 0 and {MAX_CONTENT_LENGTH}")
    return content_length


def lock_group(group_id: int) -> Group:
    """The group row, locked until the end of the transaction, with fresh counters."""
    return db.session.scalars(
        db.lock_rows(sa.select(Group).where(Group.id == group_id), Group).execution_options(
            populate_existing=True
        )
    ).one()


def lock_groups(group_ids: Iterable[int]) -> None:
    """Lock several groups in ascending id order, so that concurrent batch operations cannot deadlock."""
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


def refund(freed: Mapping[int, int]) -> None:
    """Lower storage_used by the bytes freed per group id (never below 0); takes the group locks first."""
    lock_groups(freed)
    for group_id, size in freed.items():
        _add_used(group_id, -size)


def _add_used(group_id: int, delta: int) -> None:
    new_value = Group.storage_used + delta
    db.session.execute(
        sa.update(Group)
        .where(Group.id == group_id)
        .values(storage_used=sa.case((new_value < 0, 0), else_=new_value))
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- drift repair (jobs.quota.recompute)


def recorded_usage(group_id: int | None = None) -> sa.Select[int, int]:
    """SELECT group_id, bytes over artifacts and attachments (optionally for one group)."""
    parts = []
    for model in (Artifact, Attachment):
        part = sa.select(model.group_id.label("group_id"), model.size.label("size"))
        if group_id is not None:
            part = part.where(model.group_id == group_id)
        parts.append(part)
    rows = sa.union_all(*parts).subquery()
    return sa.select(rows.c.group_id, sa.func.sum(rows.c.size).label("used")).group_by(rows.c.group_id)


def recompute_storage_used() -> int:
    """Compare every group's storage_used with its recorded objects and repair the drifting ones."""
    used = {gid: int(total) for gid, total in db.session.execute(recorded_usage()).all()}
    drifting = [
        gid for gid, stored in db.session.execute(sa.select(Group.id, Group.storage_used)).all()
        if stored != used.get(gid, 0)
    ]  # fmt: skip
    db.session.rollback()  # end the read transaction; each repair takes its own lock
    repaired = sum(1 for gid in drifting if _repair(gid))
    if repaired:
        log.warning("storage accounting: repaired %d group(s)", repaired)
    return repaired


@db.transactional
def _repair(group_id: int) -> bool:
    """Lock the group (skip it if busy: the next run sees it), recount its bytes and fix storage_used."""
    group = db.session.scalars(
        db.lock_rows(sa.select(Group).where(Group.id == group_id), Group, skip_locked=True)
    ).first()
    if group is None:
        return False
    total = db.session.execute(recorded_usage(group_id)).one_or_none()
    actual = int(total.used) if total else 0
    if group.storage_used == actual:
        return False
    log.warning(
        "storage accounting: group %s storage_used %d -> %d (drift %+d)",
        group.group_name, group.storage_used, actual, group.storage_used - actual,
    )  # fmt: skip
    group.storage_used = actual
    return True
