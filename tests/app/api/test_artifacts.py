"""Artifacts over the API: uploads charged to the task's group, downloads, deletes, batches, worker routes."""

from __future__ import annotations

import uuid

import pytest

from app.models import Artifact, TaskState
from app.models.enums import ArtifactContentType
from app.services import artifact as artifact_service
from app.services import deletion as deletion_service
from app.services import storage as storage_service
from app.services import task as task_service
from tests.builders import GROUP


def upload(client, world, task_uuid, data: bytes, who="writer", content_type="result"):
    return client.post(
        f"/tasks/{task_uuid}/artifacts",
        json={"content_type": content_type, "content_length": len(data)},
        headers=world.headers(who),
    )


def upload_bytes(client, world, put_object, task_uuid, data: bytes, content_type="result"):
    resp = upload(client, world, task_uuid, data, content_type=content_type)
    assert resp.status_code == 200, resp.json
    assert put_object(resp.json["url"], data).status_code == 200


def test_upload_then_download_same_bytes(client, world, put_object, get_object):
    task = world.task()
    upload_bytes(client, world, put_object, task, b"result-bytes")
    resp = client.get(f"/tasks/{task}/download/artifacts/result", headers=world.headers("reader"))
    assert resp.status_code == 302 and resp.json["size"] == 12
    assert get_object(resp.headers["Location"]).data == b"result-bytes"


def test_artifact_key_layout(client, world):
    task = world.task()
    resp = upload(client, world, task, b"x", content_type="std-log")
    assert f"/storage/artifacts/{task}/std-log.tar.gz?" in resp.json["url"]


def test_aliases_are_accepted_for_the_content_type(client, world, put_object):
    task = world.task()
    upload_bytes(client, world, put_object, task, b"log", content_type="ExecLog")
    resp = client.get(
        f"/tasks/{task}/download/artifacts/exec?redirect=false", headers=world.headers("reader")
    )
    assert resp.status_code == 200 and resp.json["size"] == 3


@pytest.mark.parametrize("content_type", ["zip", "", "RESULTS", 1, None])
def test_unknown_content_type_is_400_and_nothing_written(client, world, content_type):
    task = world.task()
    resp = client.post(
        f"/tasks/{task}/artifacts",
        json={"content_type": content_type, "content_length": 1},
        headers=world.headers("writer"),
    )
    assert resp.status_code == 400 and resp.json["error"] == resp.json["msg"]
    assert world.count(Artifact) == 0 and world.storage_used() == 0


def test_unknown_content_type_in_path_is_400(client, world):
    task = world.task()
    assert (
        client.get(f"/tasks/{task}/download/artifacts/bogus", headers=world.headers("reader")).status_code
        == 400
    )


@pytest.mark.parametrize("length", [-5, 2**64, 10**13, "7", True])
def test_bad_content_length_is_400_and_nothing_written(client, world, length):
    task = world.task()
    resp = client.post(
        f"/tasks/{task}/artifacts",
        json={"content_type": "result", "content_length": length},
        headers=world.headers("writer"),
    )
    assert resp.status_code == 400
    assert world.count(Artifact) == 0 and world.storage_used() == 0


def test_upload_for_unknown_task_is_404(client, world):
    assert upload(client, world, uuid.uuid4(), b"x").status_code == 404


def test_artifacts_count_against_the_task_group_exactly(client, world, put_object):
    task = world.task()
    upload_bytes(client, world, put_object, task, b"r" * 100)
    upload_bytes(client, world, put_object, task, b"e" * 10, content_type="exec-log")
    assert world.storage_used() == 110
    upload_bytes(client, world, put_object, task, b"r" * 30)  # smaller overwrite
    assert world.storage_used() == 40
    upload_bytes(client, world, put_object, task, b"r" * 300)  # larger overwrite
    assert world.storage_used() == 310
    assert world.storage_used("writer") == 0  # the uploader's personal group is not charged
    world.age()
    assert (
        client.delete(f"/tasks/{task}/artifacts/result", headers=world.headers("writer")).status_code == 200
    )
    assert world.storage_used() == 10


def test_upload_over_quota_is_403_and_nothing_recorded(client, world, put_object):
    world.set_quota(50)
    task = world.task()
    upload_bytes(client, world, put_object, task, b"r" * 50)
    resp = upload(client, world, task, b"e", content_type="exec-log")
    assert resp.status_code == 403 and "quota" in resp.json["msg"].lower()
    assert world.storage_used() == 50
    assert world.artifact_row(task, ArtifactContentType.ExecLog) is None


def test_worker_upload_books_the_task_group(app, world):
    task = world.task()
    with app.test_request_context():
        running = task_service.find_task(task)
        url = artifact_service.issue_worker_upload(task=running, content_type="std-log", content_length=9).url
    assert f"/storage/artifacts/{task}/std-log.tar.gz?" in url
    assert world.storage_used() == 9
    assert world.artifact_row(task, ArtifactContentType.StdLog).size == 9


def test_delete_within_the_hour_is_400_admin_delete_is_not(client, world, put_object):
    task = world.task()
    upload_bytes(client, world, put_object, task, b"abc")
    resp = client.delete(f"/tasks/{task}/artifacts/result", headers=world.headers("writer"))
    assert resp.status_code == 400 and "hour" in resp.json["msg"]
    assert world.storage_used() == 3
    assert (
        client.delete(f"/admin/tasks/{task}/artifacts/result", headers=world.headers("root")).status_code
        == 200
    )
    assert world.storage_used() == 0 and world.count(Artifact) == 0


def test_delete_removes_bytes_from_the_store(app, client, world, put_object):
    task = world.task(archived=True, state=TaskState.Finished)
    upload_bytes(client, world, put_object, task, b"abc")
    world.age()
    assert (
        client.delete(f"/tasks/{task}/artifacts/result", headers=world.headers("writer")).status_code == 200
    )
    with app.app_context():
        deletion_service.process_pending()
        assert storage_service.store().head("artifacts", f"{task}/result.tar.gz") is None


def test_delete_missing_artifact_is_404(client, world):
    task = world.task()
    assert (
        client.delete(f"/tasks/{task}/artifacts/result", headers=world.headers("writer")).status_code == 404
    )
    assert (
        client.delete(f"/admin/tasks/{task}/artifacts/result", headers=world.headers("root")).status_code
        == 404
    )


# ---------------------------------------------------------------- batches


def _three_tasks(client, world, put_object):
    a = world.task(tags=["gpu"], priority=5)
    b = world.task(
        archived=True, state=TaskState.Finished, tags=["gpu"], result={"exit_status": 1, "msg": None}
    )
    c = world.task(tags=["cpu"], priority=1)
    for task, size in ((a, 10), (b, 20), (c, 30)):
        upload_bytes(client, world, put_object, task, b"x" * size)
    return a, b, c


def test_batch_download_by_filter(client, world, put_object, get_object):
    a, b, c = _three_tasks(client, world, put_object)
    body = {"group_name": GROUP, "tags": ["gpu"], "content_type": "result"}
    resp = client.post("/tasks/download/artifacts", json=body, headers=world.headers("reader"))
    assert resp.status_code == 200
    items = {d["uuid"]: d for d in resp.json["downloads"]}
    assert set(items) == {str(a), str(b)}
    assert get_object(items[str(b)]["url"]).data == b"x" * 20
    resp = client.post(
        "/tasks/download/artifacts",
        json={"group_name": GROUP, "exit_status": "1", "content_type": "result"},
        headers=world.headers("reader"),
    )
    assert [d["uuid"] for d in resp.json["downloads"]] == [str(b)]
    resp = client.post(
        "/tasks/download/artifacts",
        json={"group_name": GROUP, "priority": ">=2", "content_type": "result"},
        headers=world.headers("reader"),
    )
    assert [d["uuid"] for d in resp.json["downloads"]] == [str(a)]


@pytest.mark.parametrize("body", [{"tags": []}, {"priority": "big"}, {"states": ["Nope"]}, {}])
def test_batch_download_by_bad_filter_is_400(client, world, body):
    body = {"group_name": GROUP, **body}
    if body.keys() != {"group_name"}:
        body["content_type"] = "result"
    assert (
        client.post("/tasks/download/artifacts", json=body, headers=world.headers("reader")).status_code
        == 400
    )


def test_batch_download_by_uuids_leaves_out_missing_and_forbidden(client, world, put_object):
    a, b, c = _three_tasks(client, world, put_object)
    foreign = world.task(group="outsider", creator="outsider")
    resp = client.post(
        "/tasks/download/artifacts/list",
        json={"uuids": [str(a), str(foreign), str(uuid.uuid4())], "content_type": "result"},
        headers=world.headers("reader"),
    )
    assert resp.status_code == 200
    assert [d["uuid"] for d in resp.json["downloads"]] == [str(a)]


def test_batch_delete_by_uuids_reports_missing_forbidden_and_recent(client, world, put_object):
    a, b, c = _three_tasks(client, world, put_object)
    foreign = world.task(group="outsider", creator="outsider")
    upload_bytes_as = client.post(
        f"/tasks/{foreign}/artifacts",
        json={"content_type": "result", "content_length": 4},
        headers=world.headers("outsider"),
    )
    assert upload_bytes_as.status_code == 200
    world.age()
    fresh = world.task()
    upload_bytes(client, world, put_object, fresh, b"f" * 5)
    missing = uuid.uuid4()
    resp = client.post(
        "/tasks/delete/artifacts/list",
        json={"uuids": [str(a), str(b), str(foreign), str(fresh), str(missing)], "content_type": "result"},
        headers=world.headers("writer"),
    )
    assert resp.status_code == 200
    assert resp.json["deleted_count"] == 2
    assert sorted(resp.json["failed_uuids"]) == sorted([str(foreign), str(fresh), str(missing)])
    assert world.storage_used() == 35  # c (30) and fresh (5) remain
    assert world.storage_used("outsider") == 4


def test_batch_delete_by_filter_deletes_old_matches_only(client, world, put_object):
    a, b, c = _three_tasks(client, world, put_object)
    world.age()
    fresh = world.task(tags=["gpu"])
    upload_bytes(client, world, put_object, fresh, b"f" * 5)
    resp = client.post(
        "/tasks/delete/artifacts",
        json={"group_name": GROUP, "tags": ["gpu"], "content_type": "result"},
        headers=world.headers("writer"),
    )
    assert resp.status_code == 200 and resp.json == {"deleted_count": 2}
    assert world.storage_used() == 35
    assert world.artifact_row(c) is not None and world.artifact_row(fresh) is not None


def test_batch_delete_by_uuids_with_empty_list_is_400(client, world):
    resp = client.post(
        "/tasks/delete/artifacts/list",
        json={"uuids": [], "content_type": "result"},
        headers=world.headers("writer"),
    )
    assert resp.status_code == 400


# ---------------------------------------------------------------- worker routes


def test_worker_downloads_artifacts_and_attachments_for_its_task(client, world, put_object, get_object):
    upstream = world.task(archived=True, state=TaskState.Finished)
    upload_bytes(client, world, put_object, upstream, b"upstream-result")
    att = client.post(
        f"/groups/{GROUP}/attachments",
        json={"key": "in/data", "content_length": 4},
        headers=world.headers("writer"),
    )
    put_object(att.json["url"], b"data")
    running = world.task()
    token = world.worker(holds=running)
    resp = client.get(f"/workers/tasks/{upstream}/artifacts/result", headers=world.headers(token))
    assert resp.status_code == 302 and get_object(resp.headers["Location"]).data == b"upstream-result"
    resp = client.get(f"/workers/tasks/{running}/attachments/in/data", headers=world.headers(token))
    assert resp.status_code == 302 and get_object(resp.headers["Location"]).data == b"data"


def test_worker_not_holding_the_task_is_refused(client, world, put_object):
    running = world.task()
    att = client.post(
        f"/groups/{GROUP}/attachments",
        json={"key": "k", "content_length": 1},
        headers=world.headers("writer"),
    )
    put_object(att.json["url"], b"k")
    upload_bytes(client, world, put_object, running, b"r")
    idle = world.worker()
    assert (
        client.get(f"/workers/tasks/{running}/attachments/k", headers=world.headers(idle)).status_code == 404
    )
    assert (
        client.get(f"/workers/tasks/{running}/artifacts/result", headers=world.headers(idle)).status_code
        == 404
    )
    other_task = world.task()
    busy = world.worker(holds=other_task)
    assert (
        client.get(f"/workers/tasks/{running}/attachments/k", headers=world.headers(busy)).status_code == 404
    )
    assert (
        client.get(f"/workers/tasks/{running}/attachments/k", headers=world.headers("owner")).status_code
        == 401
    )
    assert client.get(f"/workers/tasks/{running}/attachments/k").status_code == 401


def test_worker_may_not_read_artifacts_outside_its_task_creators_groups(client, world):
    foreign = world.task(group="outsider", creator="outsider")
    assert (
        client.post(
            f"/tasks/{foreign}/artifacts",
            json={"content_type": "result", "content_length": 1},
            headers=world.headers("outsider"),
        ).status_code
        == 200
    )
    running = world.task(creator="reader")  # reader is not a member of the outsider group
    token = world.worker(holds=running)
    assert (
        client.get(f"/workers/tasks/{foreign}/artifacts/result", headers=world.headers(token)).status_code
        == 403
    )
    mine = world.task(group="reader", creator="reader")  # the creator's personal group: allowed
    assert (
        client.post(
            f"/tasks/{mine}/artifacts",
            json={"content_type": "result", "content_length": 1},
            headers=world.headers("reader"),
        ).status_code
        == 200
    )
    assert (
        client.get(f"/workers/tasks/{mine}/artifacts/result", headers=world.headers(token)).status_code == 302
    )


def test_worker_attachment_of_another_group_is_404(client, world):
    client.post(
        "/groups/outsider/attachments",
        json={"key": "secret", "content_length": 1},
        headers=world.headers("outsider"),
    )
    running = world.task()
    token = world.worker(holds=running)
    assert (
        client.get(f"/workers/tasks/{running}/attachments/secret", headers=world.headers(token)).status_code
        == 404
    )


def test_report_op_upload_returns_a_working_put_url(app, client, world, put_object, get_object):
    running = world.task()
    token = world.worker(holds=running)
    with app.app_context():
        task_id = task_service.find_task(running).id
    body = {"id": task_id, "op": {"Upload": {"content_type": "exec-log", "content_length": 6}}}
    resp = client.post("/workers/tasks", json=body, headers=world.headers(token))
    assert resp.status_code == 200, resp.json
    assert put_object(resp.json["url"], b"exec!!").status_code == 200
    assert world.storage_used() == 6
    dl = client.get(f"/tasks/{running}/download/artifacts/exec-log", headers=world.headers("reader"))
    assert get_object(dl.headers["Location"]).data == b"exec!!"
