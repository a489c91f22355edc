"""Concurrent uploads into one group cannot push storage_used past the quota (group row lock)."""

from __future__ import annotations

import threading

from app.models import Artifact, Attachment
from tests.builders import GROUP


def test_concurrent_uploads_stop_exactly_at_the_quota(app, world):
    world.set_quota(100)
    task = world.task()
    headers = world.headers("writer")
    statuses: list[int] = []
    start = threading.Barrier(12)

    def attach(i: int) -> None:
        client = app.test_client()
        start.wait()
        body = {"key": f"k{i}", "content_length": 20}
        statuses.append(client.post(f"/groups/{GROUP}/attachments", json=body, headers=headers).status_code)

    def artifact(content_type: str) -> None:
        client = app.test_client()
        start.wait()
        body = {"content_type": content_type, "content_length": 20}
        statuses.append(client.post(f"/tasks/{task}/artifacts", json=body, headers=headers).status_code)

    threads = [threading.Thread(target=attach, args=(i,)) for i in range(9)]
    threads += [threading.Thread(target=artifact, args=(ct,)) for ct in ("result", "exec-log", "std-log")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 5 + [403] * 7
    assert world.storage_used() == 100
    assert world.count(Attachment) + world.count(Artifact) == 5


def test_concurrent_deletes_of_one_object_subtract_its_size_once(app, world):
    headers = world.headers("writer")
    client = app.test_client()
    for key, size in (("a", 30), ("b", 12)):
        body = {"key": key, "content_length": size}
        assert client.post(f"/groups/{GROUP}/attachments", json=body, headers=headers).status_code == 200
    world.age()
    statuses: list[int] = []
    start = threading.Barrier(6)

    def delete() -> None:
        c = app.test_client()
        start.wait()
        statuses.append(c.delete(f"/groups/{GROUP}/attachments/a", headers=headers).status_code)

    threads = [threading.Thread(target=delete) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [404] * 5
    assert world.storage_used() == 12
