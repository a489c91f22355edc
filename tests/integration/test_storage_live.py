"""Round trips through both real stores with the coordinator running as a real server (gunicorn subprocess).

S3: moto's server mode over real HTTP (ThreadedMotoServer on a free port). Local: the coordinator's own
signed URLs, which must refuse expired or tampered URLs and a wrong Content-Length.
"""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
import httpx
import pytest

from app import create_app
from app.services import deletion as deletion_service
from app.services import storage as storage_service
from app.storage.local import LocalStorage
from tests.builders import GROUP
from tests.helpers import TEST_JWT_SECRET, LiveCoordinator, moto_s3

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def moto_server():
    with moto_s3() as url:
        yield url


@pytest.fixture(scope="module")
def s3_coordinator(db_url, tmp_path_factory, app, moto_server):
    coordinator = LiveCoordinator(
        db_url,
        tmp_path_factory.mktemp("live-s3"),
        MITO_S3_URL=moto_server,
        MITO_S3_ACCESS_KEY="testing",
        MITO_S3_SECRET_KEY="testing",
    )
    coordinator.data_dir = coordinator.log_path.parent
    coordinator.start()
    yield coordinator
    coordinator.stop()


@pytest.fixture(scope="module")
def local_coordinator(db_url, tmp_path_factory, app):
    coordinator = LiveCoordinator(db_url, tmp_path_factory.mktemp("live-local"))
    coordinator.data_dir = coordinator.log_path.parent
    coordinator.start()
    yield coordinator
    coordinator.stop()


def _app_like(app_config, coordinator, **extra):
    """An in-process app with the live coordinator's store settings (to run the deletion pass here)."""
    return create_app({**app_config, "DATA_DIR": str(coordinator.data_dir), **extra})


def _round_trip(coordinator, world):
    base = coordinator.url
    payload = bytes(range(256)) * 4096  # 1 MiB, more than the API's 2 MB body limit would allow twice over
    payload += payload + payload
    with httpx.Client(timeout=30) as http:
        resp = http.post(
            f"{base}/groups/{GROUP}/attachments",
            json={"key": "big/blob.bin", "content_length": len(payload)},
            headers=world.headers("writer"),
        )
        assert resp.status_code == 200, resp.text
        put = http.put(resp.json()["url"], content=payload)
        assert put.status_code == 200, put.text
        dl = http.get(
            f"{base}/groups/{GROUP}/download/attachments/big/blob.bin", headers=world.headers("reader")
        )
        assert dl.status_code == 302 and dl.json()["size"] == len(payload)
        got = http.get(dl.headers["Location"])
        assert got.status_code == 200 and got.content == payload

        task = world.task()
        resp = http.post(
            f"{base}/tasks/{task}/artifacts",
            json={"content_type": "result", "content_length": 5},
            headers=world.headers("writer"),
        )
        assert http.put(resp.json()["url"], content=b"hello").status_code == 200
        dl = http.get(
            f"{base}/tasks/{task}/download/artifacts/result?redirect=false", headers=world.headers("reader")
        )
        assert dl.status_code == 200
        assert http.get(dl.json()["url"]).content == b"hello"
        return task, len(payload)


def test_s3_round_trip_and_delete(s3_coordinator, moto_server, world, app_config):
    task, size = _round_trip(s3_coordinator, world)
    assert world.storage_used() == size + 5
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    assert s3.head_object(Bucket="mitosis-artifacts", Key=f"{task}/result.tar.gz")["ContentLength"] == 5
    world.age()
    resp = httpx.delete(
        f"{s3_coordinator.url}/groups/{GROUP}/attachments/big/blob.bin", headers=world.headers("writer")
    )
    assert resp.status_code == 200
    with _app_like(
        app_config, s3_coordinator, S3_URL=moto_server, S3_ACCESS_KEY="testing", S3_SECRET_KEY="testing"
    ).app_context():
        deletion_service.process_pending()
        assert storage_service.store().head("attachments", f"{GROUP}/big/blob.bin") is None
    listing = s3.list_objects_v2(Bucket="mitosis-attachments").get("Contents", [])
    assert [o["Key"] for o in listing] == []
    assert world.storage_used() == 5


def test_local_round_trip_and_delete(local_coordinator, world, app_config):
    task, size = _round_trip(local_coordinator, world)
    world.age()
    resp = httpx.delete(
        f"{local_coordinator.url}/tasks/{task}/artifacts/result", headers=world.headers("writer")
    )
    assert resp.status_code == 200
    with _app_like(app_config, local_coordinator).app_context():
        deletion_service.process_pending()
        assert storage_service.store().head("artifacts", f"{task}/result.tar.gz") is None
        assert storage_service.store().head("attachments", f"{GROUP}/big/blob.bin") == size


def _signed_put(coordinator, world, data_len=10) -> str:
    resp = httpx.post(
        f"{coordinator.url}/groups/{GROUP}/attachments",
        json={"key": "s.bin", "content_length": data_len},
        headers=world.headers("writer"),
    )
    return resp.json()["url"]


def _with(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return parts._replace(query=urlencode(query)).geturl()


def test_local_refuses_tampered_urls(local_coordinator, world):
    url = _signed_put(local_coordinator, world)
    sig = parse_qs(urlsplit(url).query)["signature"][0]
    for bad in (
        _with(url, signature=("0" if sig[0] != "0" else "1") + sig[1:]),
        _with(url, length="11"),
        _with(url, expires=str(int(time.time()) + 7200)),
        url.replace("/s.bin?", "/t.bin?"),
        url.replace("/storage/attachments/", "/storage/artifacts/"),
    ):
        resp = httpx.put(bad, content=b"x" * 10)
        assert resp.status_code == 403, (bad, resp.text)
        assert resp.json()["error"] == resp.json()["msg"]
    get_url = url.replace("length=10&", "")
    assert httpx.get(get_url).status_code == 403  # a PUT signature does not open a GET


def test_local_refuses_expired_urls(local_coordinator, world):
    store = LocalStorage(
        root="/nonexistent",
        secret=TEST_JWT_SECRET,
        public_url=local_coordinator.url,
        bind=None,
        buckets={"artifacts": "mitosis-artifacts", "attachments": "mitosis-attachments"},
    )
    past = int(time.time()) - 5
    url = store._url("GET", "attachments", f"{GROUP}/s.bin", past, None)
    resp = httpx.get(url)
    assert resp.status_code == 403 and "expired" in resp.json()["msg"]
    fresh = store._url("GET", "attachments", f"{GROUP}/s.bin", past + 3600, None)
    assert httpx.get(fresh).status_code == 404  # a valid signature, but nothing was uploaded


def test_local_refuses_a_wrong_content_length(local_coordinator, world):
    url = _signed_put(local_coordinator, world, data_len=10)
    assert httpx.put(url, content=b"x" * 9).status_code == 400
    assert httpx.put(url, content=b"x" * 11).status_code == 400
    dl = httpx.get(
        f"{local_coordinator.url}/groups/{GROUP}/download/attachments/s.bin?redirect=false",
        headers=world.headers("reader"),
    )
    assert httpx.get(dl.json()["url"]).status_code == 404  # nothing was written
    assert httpx.put(url, content=b"x" * 10).status_code == 200
    assert httpx.get(dl.json()["url"]).content == b"x" * 10


def test_each_moto_server_starts_empty():
    """moto's state is process-wide: objects an earlier test left must not leak into the next server."""

    def client(url):
        return boto3.client(
            "s3", endpoint_url=url, aws_access_key_id="testing", aws_secret_access_key="testing",
            region_name="us-east-1",
        )  # fmt: skip

    with moto_s3() as first:
        client(first).create_bucket(Bucket="leftover")
        client(first).put_object(Bucket="leftover", Key="k", Body=b"x")
    with moto_s3() as second:
        assert client(second).list_buckets()["Buckets"] == []
