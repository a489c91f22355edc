"""Integration: batch deletion of 1,000 artifacts on a real S3 server (moto over HTTP) through Celery.

Phase 1: 1,000 objects queued in storage_deletions are removed by the Celery worker when the job is sent.
Phase 2: the API deletes 1,000 artifacts (storage_used drops at once, the job is enqueued); the objects
disappear and storage_used matches the artifacts left.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import boto3
import pytest
import sqlalchemy as sa
from botocore.client import Config

from app import create_app, db
from app.jobs.enqueue import enqueue
from app.models import ActiveTask, Artifact, ArtifactContentType, Group, StorageDeletion, TaskState
from app.storage import artifact_key
from client.sdk import Mitosis
from tests import builders
from tests.helpers import LiveCoordinator, moto_s3, wait_until
from tests.integration.procs import CeleryProcesses

pytestmark = pytest.mark.integration

N = 1000
BUCKET = "mitosis-artifacts"


@pytest.fixture
def moto_url():
    with moto_s3() as url:
        yield url


def _s3(url: str):
    client = boto3.client(
        "s3", endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing",
        region_name="us-east-1", config=Config(s3={"addressing_style": "path"}),
    )  # fmt: skip
    client.create_bucket(Bucket=BUCKET)
    return client


def _keys(s3) -> set[str]:
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        keys.update(obj["Key"] for obj in page.get("Contents", []))
    return keys


def _put_all(s3, keys, body: bytes) -> None:
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=BUCKET, Key=key, Body=body), keys))


def _artifacts(s3, group_name: str, count: int, kind: ArtifactContentType, size: int) -> list[uuid.UUID]:
    """`count` tasks with one artifact each (rows and objects), last changed two hours ago."""
    group = builders.group(group_name)
    old = db.utcnow() - timedelta(hours=2)
    base = group.task_count
    uuids = [uuid.uuid4() for _ in range(count)]
    for i, task_uuid in enumerate(uuids, start=1):
        db.session.add(ActiveTask(
            creator_id=group.creator_id, group_id=group.id, task_id=base + i, uuid=task_uuid,
            tags=[], labels=[],
            tags_key="[]", state=TaskState.Pending, timeout=60, priority=0, spec={"args": ["true"]},
        ))  # fmt: skip
        db.session.add(Artifact(task_uuid=task_uuid, content_type=kind, size=size, group_id=group.id,
                                created_at=old, updated_at=old))  # fmt: skip
    _put_all(s3, [artifact_key(u, kind) for u in uuids], b"x" * size)
    group.task_count = base + count
    group.storage_used += count * size
    db.session.commit()
    return uuids


def test_batch_delete_of_1000_artifacts_runs_through_celery(
    app_ctx, app_config, db_url, redis_db, tmp_path, moto_url
):
    s3 = _s3(moto_url)
    s3_env = {"MITO_S3_URL": moto_url, "MITO_S3_ACCESS_KEY": "testing", "MITO_S3_SECRET_KEY": "testing"}
    group_id = builders.group("mitosis_admin").id
    kept = _artifacts(s3, "mitosis_admin", 10, ArtifactContentType.ExecLog, 7)
    procs = CeleryProcesses(db_url, tmp_path / "celery", redis_db, **s3_env).start(beat=False)
    coordinator = LiveCoordinator(
        db_url, tmp_path / "coordinator", MITO_BROKER_URL=redis_db, **s3_env
    ).start()
    try:
        # Phase 1: objects queued for deletion go when the job is sent
        queued = {artifact_key(uuid.uuid4(), ArtifactContentType.Result) for _ in range(N)}
        _put_all(s3, queued, b"y")
        for key in queued:
            db.session.add(StorageDeletion(bucket="artifacts", key=key, group_id=group_id, size=1))
        db.session.commit()
        with create_app({**app_config, "BROKER_URL": redis_db}).app_context():
            enqueue("jobs.storage.delete_pending")
        wait_until(
            lambda: builders.read(sa.select(sa.func.count()).select_from(StorageDeletion)) == 0,
            timeout=120, what="queued deletions done", procs=procs,
        )  # fmt: skip
        assert not (queued & _keys(s3))
        assert "storage: deleted 1000 object(s)" in procs.log("worker")

        # Phase 2: the API deletes 1,000 artifacts
        doomed = _artifacts(s3, "mitosis_admin", N, ArtifactContentType.Result, 11)
        user = Mitosis(coordinator.url, timeout=120)
        user.login("mitosis_admin", "mitosis_admin")
        reply = user.delete_artifacts_by_uuids("result", [str(u) for u in doomed])
        user.close()
        assert (reply["deleted_count"], reply["failed_uuids"]) == (N, [])
        wait_until(
            lambda: builders.read(sa.select(sa.func.count()).select_from(StorageDeletion)) == 0
            and _keys(s3) == {artifact_key(u, ArtifactContentType.ExecLog) for u in kept},
            timeout=120, what="deleted artifacts gone from the store", procs=procs,
        )  # fmt: skip
        assert builders.read(sa.select(sa.func.count()).select_from(Artifact)) == len(kept)
        assert builders.read(sa.select(Group.storage_used).where(Group.id == group_id)) == 10 * 7
        assert "jobs.storage.delete_pending" in procs.log("worker")
    finally:
        coordinator.stop()
        procs.stop()
