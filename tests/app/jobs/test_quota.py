"""Job jobs.quota.recompute, called as a plain function."""

from __future__ import annotations

import logging
import uuid

import sqlalchemy as sa

from app import db
from app.models import Artifact, ArtifactContentType, Attachment, Group
from app.services.quota import recompute_storage_used
from tests import builders


def _used(name: str) -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(Group.storage_used).where(Group.group_name == name))


def _store(grp: Group, artifacts: list[int], attachments: list[int]) -> None:
    kinds = list(ArtifactContentType)
    for i, size in enumerate(artifacts):
        db.session.add(
            Artifact(task_uuid=uuid.uuid4(), content_type=kinds[i % len(kinds)], size=size, group_id=grp.id)
        )
    for i, size in enumerate(attachments):
        db.session.add(Attachment(group_id=grp.id, key=f"in/{i}.bin", size=size))
    db.session.commit()


def test_recompute_repairs_drift_from_rows(app_ctx, caplog):
    lab = builders.group("lab")
    _store(lab, [100, 2_000], [30_000])
    lab.storage_used = 5  # drifted
    db.session.commit()

    with caplog.at_level(logging.WARNING, logger="app.services.quota"):
        assert recompute_storage_used() == 1

    assert _used("lab") == 32_100
    assert "group lab storage_used 5 -> 32100" in caplog.text


def test_recompute_leaves_exact_groups_untouched(app_ctx):
    exact = builders.group("exact")
    _store(exact, [7], [8])
    exact.storage_used = 15
    db.session.commit()
    before = db.session.scalar(sa.select(Group.updated_at).where(Group.group_name == "exact"))

    assert recompute_storage_used() == 0

    assert _used("exact") == 15
    assert db.session.scalar(sa.select(Group.updated_at).where(Group.group_name == "exact")) == before


def test_recompute_zeroes_group_without_objects(app_ctx):
    empty = builders.group("empty")
    empty.storage_used = 4_096
    db.session.commit()

    assert recompute_storage_used() == 1
    assert _used("empty") == 0
    assert recompute_storage_used() == 0
