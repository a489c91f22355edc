"""The deletion queue: objects the store fails to delete stay queued with the error, and go on a later run."""

from __future__ import annotations

import sqlalchemy as sa

from app import db
from app.models import StorageDeletion
from app.services import deletion as deletion_service
from app.services import storage as storage_service


class FlakyStore:
    """Wraps the real store; refuses deletes while `down`."""

    def __init__(self, real):
        self.real, self.down, self.calls = real, True, 0

    def delete(self, bucket, keys):
        self.calls += 1
        if self.down:
            raise ConnectionError("store unreachable")
        return self.real.delete(bucket, keys)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_failed_deletions_stay_queued_then_succeed(app, client, world, put_object, monkeypatch):
    resp = client.post(
        "/groups/owner/attachments",
        json={"key": "f.bin", "content_length": 2},
        headers=world.headers("writer"),
    )
    assert put_object(resp.json["url"], b"ab").status_code == 200
    world.age()
    with app.app_context():
        flaky = FlakyStore(storage_service.store())
    monkeypatch.setattr(storage_service, "store", lambda: flaky)
    monkeypatch.setattr(deletion_service.time, "sleep", lambda _s: None)
    assert (
        client.delete("/groups/owner/attachments/f.bin", headers=world.headers("writer")).status_code == 200
    )
    assert world.storage_used() == 0  # the quota is freed at once, whatever the store does
    assert flaky.calls == 0  # the request only queues the object: the job deletes it
    with app.app_context():
        assert deletion_service.process_pending() == 0
        row = db.session.scalar(sa.select(StorageDeletion))
        assert row.attempts == 1 and "store unreachable" in row.last_error
        assert flaky.calls == deletion_service.DELETE_RETRIES
        assert flaky.real.head("attachments", "owner/f.bin") == 2
        flaky.down = False
        assert deletion_service.process_pending() == 1
        assert flaky.real.head("attachments", "owner/f.bin") is None
    assert world.count(StorageDeletion) == 0
