"""Attachments over the API: upload URLs and quotas, metadata, queries, downloads, deletes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app import db
from app.models import Attachment, StorageDeletion
from app.services import deletion as deletion_service
from app.services import storage as storage_service
from tests.builders import GROUP
from tests.helpers import local_path


def upload(client, world, key, data: bytes, who="writer", group=GROUP):
    resp = client.post(
        f"/groups/{group}/attachments",
        json={"key": key, "content_length": len(data)},
        headers=world.headers(who),
    )
    return resp


def upload_bytes(client, world, put_object, key, data: bytes, who="writer"):
    resp = upload(client, world, key, data, who)
    assert resp.status_code == 200, resp.json
    assert put_object(resp.json["url"], data).status_code == 200
    return resp.json["url"]


def test_upload_then_download_returns_same_bytes(client, world, put_object, get_object):
    upload_bytes(client, world, put_object, "data/input.bin", b"hello world")
    resp = client.get(f"/groups/{GROUP}/download/attachments/data/input.bin", headers=world.headers("reader"))
    assert resp.status_code == 302
    assert resp.headers["Location"] == resp.json["url"]
    assert resp.json["size"] == 11
    assert get_object(resp.json["url"]).data == b"hello world"


def test_download_without_redirect_answers_200_with_url_and_size(client, world, put_object, get_object):
    upload_bytes(client, world, put_object, "a.txt", b"abc")
    resp = client.get(
        f"/groups/{GROUP}/download/attachments/a.txt?redirect=false", headers=world.headers("reader")
    )
    assert resp.status_code == 200
    assert resp.json["size"] == 3 and "Location" not in resp.headers
    assert get_object(resp.json["url"]).data == b"abc"


def test_metadata_reports_size_and_octet_stream(client, world, put_object):
    upload_bytes(client, world, put_object, "m/x.bin", b"12345")
    resp = client.get(f"/groups/{GROUP}/attachments/m/x.bin", headers=world.headers("reader"))
    assert resp.status_code == 200
    assert resp.json["content_type"] == "application/octet-stream"
    assert resp.json["size"] == 5
    assert resp.json["created_at"].endswith("+00:00")


def test_metadata_of_missing_key_is_404(client, world):
    resp = client.get(f"/groups/{GROUP}/attachments/none.bin", headers=world.headers("reader"))
    assert resp.status_code == 404
    assert resp.json["error"] == resp.json["msg"]


def test_upload_to_unknown_group_is_404(client, world):
    resp = upload(client, world, "k", b"x", group="nosuchgroup")
    assert resp.status_code == 404


# ---------------------------------------------------------------- quota


def test_storage_used_tracks_upload_overwrite_and_delete_exactly(client, world, put_object):
    upload_bytes(client, world, put_object, "q.bin", b"x" * 100)
    assert world.storage_used() == 100
    upload_bytes(client, world, put_object, "q.bin", b"x" * 250)  # larger overwrite
    assert world.storage_used() == 250
    upload_bytes(client, world, put_object, "q.bin", b"x" * 40)  # smaller overwrite lowers it
    assert world.storage_used() == 40
    upload_bytes(client, world, put_object, "other.bin", b"y" * 7)
    assert world.storage_used() == 47
    world.age()
    assert (
        client.delete(f"/groups/{GROUP}/attachments/q.bin", headers=world.headers("writer")).status_code
        == 200
    )
    assert world.storage_used() == 7


def test_upload_over_quota_is_403_and_records_nothing(client, world, put_object):
    world.set_quota(100)
    upload_bytes(client, world, put_object, "a.bin", b"x" * 60)
    resp = upload(client, world, "b.bin", b"x" * 41)
    assert resp.status_code == 403
    assert "quota" in resp.json["error"].lower()
    assert world.storage_used() == 60
    assert world.count(Attachment) == 1
    assert upload(client, world, "b.bin", b"x" * 40).status_code == 200  # exactly at the quota is fine
    assert world.storage_used() == 100


def test_overwrite_growth_over_quota_is_refused_and_keeps_old_size(client, world, put_object):
    world.set_quota(100)
    upload_bytes(client, world, put_object, "a.bin", b"x" * 60)
    assert upload(client, world, "a.bin", b"x" * 101).status_code == 403
    assert world.storage_used() == 60
    with world.app.app_context():
        assert db.session.scalar(sa.select(Attachment.size)) == 60


def test_upload_to_inactive_group_is_refused(client, world):
    from app.models.enums import GroupState

    with world.app.app_context():
        world.group().state = GroupState.Locked
        db.session.commit()
    assert upload(client, world, "a.bin", b"x").status_code == 400
    assert world.count(Attachment) == 0


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "key",
    [
        "../etc/passwd",
        "a/../b",
        "a//b",
        "a/./b",
        "/abs",
        "trail/",
        "nul\x00byte",
        "tab\tkey",
        "x" * 1100,
        "",
        ".",
        "..",
    ],
)
def test_upload_with_bad_key_is_400_and_writes_nothing(client, world, key):
    resp = upload(client, world, key, b"x")
    assert resp.status_code == 400
    assert "error" in resp.json and "msg" in resp.json
    assert world.count(Attachment) == 0
    assert world.storage_used() == 0


@pytest.mark.parametrize(
    "body",
    [
        {"key": "k", "content_length": -1},
        {"key": "k", "content_length": 10**19},
        {"key": "k", "content_length": 6 * 10**12},  # beyond S3's 5 TB object limit
        {"key": "k", "content_length": "10"},
        {"key": "k", "content_length": 1.5},
        {"key": "k"},
        {"key": "k", "content_length": 1, "extra": True},
        {"key": 5, "content_length": 1},
    ],
)
def test_upload_with_bad_body_is_400_and_writes_nothing(client, world, body):
    resp = client.post(f"/groups/{GROUP}/attachments", json=body, headers=world.headers("writer"))
    assert resp.status_code == 400
    assert resp.json["error"] == resp.json["msg"]
    assert world.count(Attachment) == 0
    assert world.storage_used() == 0


# ---------------------------------------------------------------- queries


def _seed(client, world, keys):
    for key in keys:
        assert upload(client, world, key, b"x" * 3).status_code == 200


def test_query_is_a_literal_case_sensitive_substring_match(client, world):
    _seed(client, world, ["data/a_1.bin", "data/ab1.bin", "data/a%1.bin", "Data/up.bin", "other.bin"])

    def keys(pattern):
        resp = client.post(
            f"/groups/{GROUP}/attachments/query", json={"key": pattern}, headers=world.headers("reader")
        )
        assert resp.status_code == 200
        return sorted(a["key"] for a in resp.json["attachments"])

    assert keys("a_1") == ["data/a_1.bin"]  # `_` is not a wildcard
    assert keys("a%1") == ["data/a%1.bin"]  # nor `%`
    assert keys("data/") == ["data/a%1.bin", "data/a_1.bin", "data/ab1.bin"]
    assert keys("Data") == ["Data/up.bin"]


def test_query_pages_and_counts(client, world):
    _seed(client, world, [f"k{i}" for i in range(5)])
    resp = client.post(
        f"/groups/{GROUP}/attachments/query", json={"limit": 2, "offset": 1}, headers=world.headers("reader")
    )
    assert resp.status_code == 200
    assert [a["key"] for a in resp.json["attachments"]] == ["k1", "k2"]
    assert resp.json["count"] == 2 and resp.json["group_name"] == GROUP
    resp = client.post(
        f"/groups/{GROUP}/attachments/query",
        json={"count": True, "limit": 1},
        headers=world.headers("reader"),
    )
    assert resp.json["count"] == 5 and resp.json["attachments"] == []


def test_batch_download_by_filter_and_by_keys(client, world, put_object, get_object):
    upload_bytes(client, world, put_object, "d/one", b"1")
    upload_bytes(client, world, put_object, "d/two", b"22")
    upload_bytes(client, world, put_object, "e/three", b"333")
    resp = client.post(
        f"/groups/{GROUP}/download/attachments", json={"key": "d/"}, headers=world.headers("reader")
    )
    assert resp.status_code == 200
    items = {d["key"]: d for d in resp.json["downloads"]}
    assert set(items) == {"d/one", "d/two"} and resp.json["group_name"] == GROUP
    assert get_object(items["d/two"]["url"]).data == b"22" and items["d/two"]["size"] == 2
    resp = client.post(
        f"/groups/{GROUP}/download/attachments/list",
        json={"keys": ["e/three", "missing"]},
        headers=world.headers("reader"),
    )
    assert resp.status_code == 200
    assert [d["key"] for d in resp.json["downloads"]] == ["e/three"]
    assert get_object(resp.json["downloads"][0]["url"]).data == b"333"


# ---------------------------------------------------------------- deletes


def test_delete_within_the_hour_is_refused_then_allowed_later(client, world, put_object):
    upload_bytes(client, world, put_object, "r.bin", b"abc")
    resp = client.delete(f"/groups/{GROUP}/attachments/r.bin", headers=world.headers("writer"))
    assert resp.status_code == 400
    assert "hour" in resp.json["error"]
    assert world.storage_used() == 3 and world.count(Attachment) == 1
    world.age()
    assert (
        client.delete(f"/groups/{GROUP}/attachments/r.bin", headers=world.headers("writer")).status_code
        == 200
    )
    assert world.count(Attachment) == 0


def test_delete_removes_the_bytes_from_the_store(app, client, world, put_object, get_object):
    url = upload_bytes(client, world, put_object, "gone.bin", b"bytes")
    world.age()
    dl = client.get(
        f"/groups/{GROUP}/download/attachments/gone.bin?redirect=false", headers=world.headers("reader")
    )
    assert (
        client.delete(f"/groups/{GROUP}/attachments/gone.bin", headers=world.headers("writer")).status_code
        == 200
    )
    with app.app_context():
        deletion_service.process_pending()
        assert storage_service.store().head("attachments", f"{GROUP}/gone.bin") is None
    assert world.count(StorageDeletion) == 0
    assert get_object(dl.json["url"]).status_code == 404
    assert url


def test_delete_queues_the_object_and_enqueues_the_job(app, client, world, put_object, monkeypatch):
    upload_bytes(client, world, put_object, "q/d.bin", b"1234")
    world.age()
    sent = []
    monkeypatch.setattr(deletion_service, "enqueue", sent.append)
    assert (
        client.delete(f"/groups/{GROUP}/attachments/q/d.bin", headers=world.headers("writer")).status_code
        == 200
    )
    assert sent == ["jobs.storage.delete_pending"]
    with app.app_context():
        row = db.session.scalar(sa.select(StorageDeletion))
        assert (row.bucket, row.key, row.size, row.group_id) == (
            "attachments",
            f"{GROUP}/q/d.bin",
            4,
            world.group().id,
        )
        assert (
            storage_service.store().head("attachments", f"{GROUP}/q/d.bin") == 4
        )  # still there until processed
    with app.app_context():
        monkeypatch.undo()
        assert deletion_service.process_pending() == 1
        assert storage_service.store().head("attachments", f"{GROUP}/q/d.bin") is None
    assert world.count(StorageDeletion) == 0


def test_reupload_after_delete_is_not_lost_to_the_queued_deletion(app, client, world, put_object, get_object):
    upload_bytes(client, world, put_object, "re.bin", b"old")
    world.age()
    with app.app_context():
        db.session.add(StorageDeletion(bucket="attachments", key=f"{GROUP}/re.bin", group_id=None, size=3))
        db.session.commit()
    upload_bytes(client, world, put_object, "re.bin", b"new!")
    with app.app_context():
        deletion_service.process_pending()
    dl = client.get(
        f"/groups/{GROUP}/download/attachments/re.bin?redirect=false", headers=world.headers("reader")
    )
    assert get_object(dl.json["url"]).data == b"new!"


def test_batch_delete_by_keys_reports_missing_and_recent_keys(client, world, put_object):
    upload_bytes(client, world, put_object, "old1", b"1" * 10)
    upload_bytes(client, world, put_object, "old2", b"2" * 20)
    world.age()
    upload_bytes(client, world, put_object, "fresh", b"3" * 30)
    assert world.storage_used() == 60
    resp = client.post(
        f"/groups/{GROUP}/delete/attachments/list",
        json={"keys": ["old1", "old2", "fresh", "nope"]},
        headers=world.headers("writer"),
    )
    assert resp.status_code == 200
    assert resp.json == {"deleted_count": 2, "failed_keys": ["fresh", "nope"], "group_name": GROUP}
    assert world.storage_used() == 30
    assert world.count(Attachment) == 1


def test_batch_delete_by_filter_skips_recent_objects(client, world, put_object):
    upload_bytes(client, world, put_object, "logs/1", b"1" * 5)
    upload_bytes(client, world, put_object, "logs/2", b"2" * 6)
    upload_bytes(client, world, put_object, "keep/3", b"3" * 7)
    world.age()
    upload_bytes(client, world, put_object, "logs/4", b"4" * 8)
    resp = client.post(
        f"/groups/{GROUP}/delete/attachments", json={"key": "logs/"}, headers=world.headers("writer")
    )
    assert resp.status_code == 200
    assert resp.json == {"deleted_count": 2, "group_name": GROUP}
    assert world.storage_used() == 15
    with world.app.app_context():
        assert sorted(db.session.scalars(sa.select(Attachment.key))) == ["keep/3", "logs/4"]


def test_batch_delete_by_keys_with_empty_list_is_400(client, world):
    resp = client.post(
        f"/groups/{GROUP}/delete/attachments/list", json={"keys": []}, headers=world.headers("writer")
    )
    assert resp.status_code == 400


def test_admin_delete_ignores_the_hour_rule(client, world, put_object):
    upload_bytes(client, world, put_object, "adm.bin", b"abcd")
    resp = client.delete(f"/admin/groups/{GROUP}/attachments/adm.bin", headers=world.headers("root"))
    assert resp.status_code == 200
    assert world.storage_used() == 0 and world.count(Attachment) == 0


def test_local_url_path_matches_the_key(client, world):
    resp = upload(client, world, "sp ace/ü.bin", b"x")
    assert resp.status_code == 200
    assert local_path(resp.json["url"]).startswith("/storage/attachments/owner/sp%20ace/%C3%BC.bin?")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("attachments/query", {"key": "a\x00b"}),
        ("download/attachments", {"key": "a\x00b"}),
        ("download/attachments/list", {"keys": ["ok", "a\x00b"]}),
        ("delete/attachments", {"key": "\x00"}),
        ("delete/attachments/list", {"keys": ["a\x00b"]}),
    ],
)
def test_nul_in_key_filters_is_400(client, world, path, body):
    _seed(client, world, ["ok"])
    resp = client.post(f"/groups/{GROUP}/{path}", json=body, headers=world.headers("writer"))
    assert resp.status_code == 400 and resp.json["error"] == resp.json["msg"]
    assert world.count(Attachment) == 1


@pytest.mark.parametrize("path", ["attachments/a%00b", "download/attachments/x/./y", "attachments/x%2F%2Fy"])
def test_bad_key_in_path_is_400(client, world, path):
    resp = client.get(f"/groups/{GROUP}/{path}", headers=world.headers("reader"))
    assert resp.status_code == 400, path
