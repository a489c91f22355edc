"""Upload answers carry `exist`, as the original's have since 0.6.7 (its SDK reads it): issue 10, item 12."""

from __future__ import annotations

import pytest


@pytest.fixture
def owner(users):
    return users.headers(users.create("owner"))


def _upload_attachment(client, owner, key: str) -> dict:
    resp = client.post("/groups/owner/attachments", json={"key": key, "content_length": 2}, headers=owner)
    assert resp.status_code == 200, resp.json
    return resp.json


def _upload_artifact(client, owner, task: str, content_type: str) -> dict:
    body = {"content_type": content_type, "content_length": 1}
    resp = client.post(f"/tasks/{task}/artifacts", json=body, headers=owner)
    assert resp.status_code == 200, resp.json
    return resp.json


def test_attachment_upload_says_whether_the_key_already_had_an_object(client, owner):
    first = _upload_attachment(client, owner, "f.bin")
    assert first["exist"] is False and first["url"]
    assert _upload_attachment(client, owner, "f.bin")["exist"] is True
    assert _upload_attachment(client, owner, "other.bin")["exist"] is False


def test_artifact_upload_says_whether_the_artifact_already_had_an_object(client, owner):
    body = {"group_name": "owner", "tags": [], "labels": [], "timeout": "1m", "priority": 0,
            "task_spec": {"args": ["true"]}}  # fmt: skip
    task = client.post("/tasks", json=body, headers=owner).json["uuid"]
    first = _upload_artifact(client, owner, task, "result")
    assert first["exist"] is False and first["url"]
    assert _upload_artifact(client, owner, task, "result")["exist"] is True
    assert _upload_artifact(client, owner, task, "exec-log")["exist"] is False


def test_a_deleted_attachment_no_longer_exists(client, owner, admin_headers):
    _upload_attachment(client, owner, "gone.bin")
    assert client.delete("/admin/groups/owner/attachments/gone.bin", headers=admin_headers).status_code == 200
    assert _upload_attachment(client, owner, "gone.bin")["exist"] is False


def test_served_schemas_document_exist(client):
    schemas = client.get("/openapi.json").json["components"]["schemas"]
    for name in ("UploadAttachmentResp", "UploadArtifactResp"):
        assert schemas[name]["properties"]["exist"]["type"] == "boolean"
        assert set(schemas[name]["required"]) == {"exist", "url"}
