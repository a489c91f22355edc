"""The deletion queue called directly: requests only queue; the job deletes, keeps re-uploaded keys, retries
outside any transaction, and records what the store refuses."""

from __future__ import annotations

import io
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import auth, db
from app.models import Artifact, ArtifactContentType, Attachment, Group, StorageDeletion
from app.services import deletion
from app.services import storage as storage_service
from app.services import user as user_service
from app.storage import ARTIFACTS, ATTACHMENTS, artifact_key


class RecordingStore:
    """The real store, with every delete call recorded (and refused while `refuse` is set)."""

    def __init__(self, real):
        self.real, self.calls, self.refuse = real, [], False

    def delete(self, bucket, keys):
        self.calls.append((bucket, sorted(keys), db.session().in_transaction()))
        if self.refuse:
            raise ConnectionError("store unreachable")
        return self.real.delete(bucket, keys)

    def __getattr__(self, name):
        return getattr(self.real, name)


@pytest.fixture
def store(app_ctx, monkeypatch):
    recording = RecordingStore(storage_service.store())
    monkeypatch.setattr(storage_service, "store", lambda: recording)
    return recording


@pytest.fixture
def group(app_ctx) -> Group:
    user_service.create_user(username="lab", md5_password=auth.md5_bytes("pw"))
    return db.session.scalar(sa.select(Group).where(Group.group_name == "lab"))


def _put(store, bucket: str, key: str, body: bytes = b"data") -> None:
    store.real.write(bucket, key, io.BytesIO(body), len(body))


def _queue(group: Group, bucket: str, key: str, size: int = 4) -> None:
    db.session.add(StorageDeletion(bucket=bucket, key=key, group_id=group.id, size=size))
    db.session.commit()


def _queued() -> int:
    db.session.commit()
    return db.session.scalar(sa.select(sa.func.count()).select_from(StorageDeletion))


def test_release_queues_frees_quota_and_sends_the_job_after_commit(group, store, monkeypatch):
    sent = []
    monkeypatch.setattr(deletion, "enqueue", lambda name: sent.append((name, db.session().in_transaction())))
    row = Attachment(group_id=group.id, key="a.bin", size=4)
    db.session.add(row)
    group.storage_used = 4
    db.session.commit()

    db.transactional(deletion.release)([deletion.Doomed(ATTACHMENTS, "lab/a.bin", row)])

    assert sent == [(deletion.DELETE_JOB, False)]  # sent once, after the commit
    assert store.calls == []  # the request never calls the store
    # once now, and once more after the upload URL booked with the row (just now) has expired
    assert _queued() == 2
    later = db.session.scalars(
        sa.select(StorageDeletion.not_before).where(StorageDeletion.not_before.is_not(None))
    )
    assert [when > db.utcnow() + timedelta(minutes=59) for when in later] == [True]
    assert db.session.scalar(sa.select(Group.storage_used).where(Group.id == group.id)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0


def test_process_deletes_queued_objects_outside_the_request(group, store):
    _put(store, ATTACHMENTS, "lab/a.bin")
    _queue(group, ATTACHMENTS, "lab/a.bin")
    assert deletion.process_pending() == 1
    assert store.real.head(ATTACHMENTS, "lab/a.bin") is None
    assert _queued() == 0


def test_process_keeps_objects_uploaded_again_since_their_deletion(group, store):
    task = uuid.uuid4()
    key = artifact_key(task, ArtifactContentType.Result)
    _put(store, ATTACHMENTS, "lab/again.bin")
    _put(store, ARTIFACTS, key)
    _queue(group, ATTACHMENTS, "lab/again.bin")
    _queue(group, ARTIFACTS, key)
    db.session.add(Attachment(group_id=group.id, key="again.bin", size=4))
    db.session.add(
        Artifact(task_uuid=task, content_type=ArtifactContentType.Result, size=4, group_id=group.id)
    )
    db.session.commit()

    assert deletion.process_pending() == 2  # both queue rows go
    assert store.real.head(ATTACHMENTS, "lab/again.bin") == 4  # and both objects stay
    assert store.real.head(ARTIFACTS, key) == 4
    assert store.calls == []


def test_retries_wait_outside_any_transaction_then_record_the_error(group, store, monkeypatch):
    waits = []
    monkeypatch.setattr(deletion.time, "sleep", lambda s: waits.append((s, db.session().in_transaction())))
    _put(store, ATTACHMENTS, "lab/a.bin")
    _queue(group, ATTACHMENTS, "lab/a.bin")
    store.refuse = True

    assert deletion.process_pending() == 0

    assert len(store.calls) == deletion.DELETE_RETRIES
    assert waits == [(0.2, False), (0.4, False)]  # no transaction (so no row lock) while waiting
    row = db.session.scalar(sa.select(StorageDeletion))
    assert (row.attempts, row.last_error) == (1, "ConnectionError: store unreachable")
    store.refuse = False
    assert deletion.drain() == 1
    assert store.real.head(ATTACHMENTS, "lab/a.bin") is None


def test_drain_works_through_the_queue_in_batches(group, store):
    for i in range(5):
        _put(store, ATTACHMENTS, f"lab/{i}.bin")
        _queue(group, ATTACHMENTS, f"lab/{i}.bin")
    assert deletion.drain(limit=2) == 5
    assert _queued() == 0
    assert [len(keys) for _bucket, keys, _tx in store.calls] == [2, 2, 1]
