"""Storage routes through the test client: successes the spec documents without a body have none."""

from __future__ import annotations

import pytest

from tests.helpers import local_path


@pytest.fixture
def owner(users):
    return users.headers(users.create("owner"))


def _attachment(client, owner) -> None:
    resp = client.post("/groups/owner/attachments", json={"key": "f.bin", "content_length": 2}, headers=owner)
    assert resp.status_code == 200
    put = client.put(local_path(resp.json["url"]), data=b"ab")
    assert (put.status_code, put.data) == (200, b"")


def _artifact(client, owner) -> str:
    body = {"group_name": "owner", "tags": [], "labels": [], "timeout": "1m", "priority": 0,
            "task_spec": {"args": ["true"]}}  # fmt: skip
    task = client.post("/tasks", json=body, headers=owner).json["uuid"]
    resp = client.post(f"/tasks/{task}/artifacts", json={"content_type": "result", "content_length": 1},
                       headers=owner)  # fmt: skip
    assert client.put(local_path(resp.json["url"]), data=b"x").status_code == 200
    return task


def test_admin_deletes_answer_200_with_no_body(client, owner, admin_headers):
    _attachment(client, owner)
    task = _artifact(client, owner)
    for path in ("/admin/groups/owner/attachments/f.bin", f"/admin/tasks/{task}/artifacts/result"):
        resp = client.delete(path, headers=admin_headers)
        assert (resp.status_code, resp.data) == (200, b""), path


def test_recent_user_deletes_are_400_in_the_error_shape(client, owner):
    _attachment(client, owner)
    task = _artifact(client, owner)
    for path in ("/groups/owner/attachments/f.bin", f"/tasks/{task}/artifacts/result"):
        resp = client.delete(path, headers=owner)
        assert resp.status_code == 400, path
        assert (
            resp.json["msg"]
            == resp.json["error"]
            == ("Objects updated in the last hour cannot be deleted; try again later")
        )
