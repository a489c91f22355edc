"""Quota accounting: storage_used = bytes of the group's artifacts + attachments rows; drift is repaired."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from app import db
from app.jobs import job
from app.models import Artifact, Attachment, Group

log = logging.getLogger(__name__)


def recorded_usage(group_id: int | None = None) -> sa.Select:
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
        sa.select(Group).where(Group.id == group_id).with_for_update(skip_locked=True, of=Group)
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


@job("jobs.quota.recompute")
def recompute() -> None:
    """Recompute storage_used for every group and repair drift."""
    recompute_storage_used()
