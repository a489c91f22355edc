"""The permission matrix of every storage operation, for every kind of caller."""

from __future__ import annotations

import pytest

from tests.builders import GROUP

ACTORS = [None, "worker", "outsider", "reader", "writer", "owner", "root"]
KEY = "f/a.bin"


def _uuids(task):
    return {"uuids": [str(task)], "content_type": "result"}


def _filter():
    return {"group_name": GROUP, "content_type": "result"}


# op -> (request(client, headers, task), expected per actor, optional extractor of the body)
OPS = {
    "uploadAttachment": (
        lambda c, h, t: c.post(f"/groups/{GROUP}/attachments", json={"key": "n", "content_length": 1},
                               headers=h),
        [401, 401, 403, 403, 200, 200, 403], None),
    "queryAttachments": (
        lambda c, h, t: c.post(f"/groups/{GROUP}/attachments/query", json={}, headers=h),
        [401, 401, 403, 200, 200, 200, 403], None),
    "queryAttachment": (
        lambda c, h, t: c.get(f"/groups/{GROUP}/attachments/{KEY}", headers=h),
        [401, 401, 403, 200, 200, 200, 403], None),
    "deleteAttachment": (
        lambda c, h, t: c.delete(f"/groups/{GROUP}/attachments/{KEY}", headers=h),
        [401, 401, 403, 403, 200, 200, 403], None),
    "downloadAttachment": (
        lambda c, h, t: c.get(f"/groups/{GROUP}/download/attachments/{KEY}", headers=h),
        [401, 401, 403, 302, 302, 302, 403], None),
    "batchDownloadAttachmentsByFilter": (
        lambda c, h, t: c.post(f"/groups/{GROUP}/download/attachments", json={}, headers=h),
        [401, 401, 403, 200, 200, 200, 403], None),
    "batchDownloadAttachmentsByKeys": (
        lambda c, h, t: c.post(f"/groups/{GROUP}/download/attachments/list", json={"keys": [KEY]}, headers=h),
        [401, 401, 403, 200, 200, 200, 403], None),
    "batchDeleteAttachmentsByFilter": (
        lambda c, h, t: c.post(f"/groups/{GROUP}/delete/attachments", json={}, headers=h),
        [401, 401, 403, 403, (200, 1), (200, 1), 403], lambda b: b["deleted_count"]),
    "batchDeleteAttachmentsByKeys": (
        lambda c, h, t: c.post(f"/groups/{GROUP}/delete/attachments/list", json={"keys": [KEY]}, headers=h),
        [401, 401, 403, 403, (200, 1), (200, 1), 403], lambda b: b["deleted_count"]),
    "uploadTaskArtifact": (
        lambda c, h, t: c.post(f"/tasks/{t}/artifacts", json={"content_type": "std-log", "content_length": 1},
                               headers=h),
        [401, 401, 403, 403, 200, 200, 403], None),
    "deleteTaskArtifact": (
        lambda c, h, t: c.delete(f"/tasks/{t}/artifacts/result", headers=h),
        [401, 401, 403, 403, 200, 200, 403], None),
    "downloadTaskArtifact": (
        lambda c, h, t: c.get(f"/tasks/{t}/download/artifacts/result", headers=h),
        [401, 401, 403, 302, 302, 302, 302], None),
    "batchDownloadArtifactsByFilter": (
        lambda c, h, t: c.post("/tasks/download/artifacts", json=_filter(), headers=h),
        [401, 401, 403, (200, 1), (200, 1), (200, 1), (200, 1)], lambda b: len(b["downloads"])),
    "batchDownloadArtifactsByUuids": (
        lambda c, h, t: c.post("/tasks/download/artifacts/list", json=_uuids(t), headers=h),
        [401, 401, (200, 0), (200, 1), (200, 1), (200, 1), (200, 1)], lambda b: len(b["downloads"])),
    "batchDeleteArtifactsByFilter": (
        lambda c, h, t: c.post("/tasks/delete/artifacts", json=_filter(), headers=h),
        [401, 401, 403, 403, (200, 1), (200, 1), 403], lambda b: b["deleted_count"]),
    "batchDeleteArtifactsByUuids": (
        lambda c, h, t: c.post("/tasks/delete/artifacts/list", json=_uuids(t), headers=h),
        [401, 401, (200, 0), (200, 0), (200, 1), (200, 1), (200, 0)], lambda b: b["deleted_count"]),
    "adminDeleteAttachment": (
        lambda c, h, t: c.delete(f"/admin/groups/{GROUP}/attachments/{KEY}", headers=h),
        [401, 401, 403, 403, 403, 403, 200], None),
    "adminDeleteTaskArtifact": (
        lambda c, h, t: c.delete(f"/admin/tasks/{t}/artifacts/result", headers=h),
        [401, 401, 403, 403, 403, 403, 200], None),
}  # fmt: skip


def _seed(client, world, task):
    """Make sure the attachment and the artifact exist and are older than an hour."""
    owner = world.headers("owner")
    client.post(f"/groups/{GROUP}/attachments", json={"key": KEY, "content_length": 3}, headers=owner)
    client.post(
        f"/tasks/{task}/artifacts", json={"content_type": "result", "content_length": 3}, headers=owner
    )
    world.age()


@pytest.mark.parametrize("op", list(OPS))
def test_permission_matrix(op, client, world):
    request, expected, extract = OPS[op]
    task = world.task()
    worker_token = world.worker()
    seen = []
    for actor in ACTORS:
        _seed(client, world, task)
        resp = request(client, world.headers(worker_token if actor == "worker" else actor), task)
        if resp.status_code >= 400:
            assert resp.json["error"] == resp.json["msg"]
        wanted = expected[ACTORS.index(actor)]
        seen.append((resp.status_code, extract(resp.json)) if isinstance(wanted, tuple) else resp.status_code)
    assert seen == expected, dict(zip(ACTORS, seen, strict=True))
