"""A coordinator started while S3 is unreachable (issue 12 item 5): it starts, signs download URLs without
the network, and answers upload URL requests 503 in the error shape, with nothing booked, until S3 is
back; then the same request succeeds (the buckets are created then).

Real processes over real HTTP: a `mito coordinator` whose MITO_S3_URL names a port where nothing listens,
then moto's server started on that very port.
"""

from __future__ import annotations

import boto3
import httpx
import pytest
from moto.server import ThreadedMotoServer

from app import db
from app.models import Artifact, Attachment
from app.models.enums import ArtifactContentType
from tests.builders import GROUP
from tests.helpers import LiveCoordinator, free_port

pytestmark = pytest.mark.integration


def test_s3_unreachable_at_start_answers_503_until_it_returns(db_url, tmp_path, world):
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    coordinator = LiveCoordinator(
        db_url, tmp_path / "coordinator",
        MITO_S3_URL=endpoint, MITO_S3_ACCESS_KEY="testing", MITO_S3_SECRET_KEY="testing",
    ).start()  # fmt: skip
    server = None
    task = world.task()
    with world.app.app_context():  # a stored 5-byte artifact, charged to the group
        group = world.group()
        db.session.add(
            Artifact(task_uuid=task, content_type=ArtifactContentType.Result, size=5, group_id=group.id)
        )
        group.storage_used = 5
        db.session.commit()
    body = {"key": "data.bin", "content_length": 7}
    try:
        with httpx.Client(base_url=coordinator.url, timeout=60) as http:
            resp = http.post(f"/groups/{GROUP}/attachments", json=body, headers=world.headers("writer"))
            assert resp.status_code == 503
            assert resp.json()["msg"] == resp.json()["error"]
            assert resp.json()["msg"].startswith(f"Object store unavailable: S3 at {endpoint}")
            assert world.storage_used() == 5 and world.count(Attachment) == 0

            # presigning a download needs no network
            dl = http.get(
                f"/tasks/{task}/download/artifacts/result?redirect=false", headers=world.headers("reader")
            )
            assert dl.status_code == 200 and dl.json()["url"].startswith(f"{endpoint}/mitosis-artifacts/")

            server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            server.start()
            httpx.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()
            resp = http.post(f"/groups/{GROUP}/attachments", json=body, headers=world.headers("writer"))
            assert resp.status_code == 200, resp.text
            assert httpx.put(resp.json()["url"], content=b"payload", timeout=30).status_code == 200
            assert world.storage_used() == 5 + 7 and world.count(Attachment) == 1
        s3 = boto3.client(
            "s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
            region_name="us-east-1",
        )  # fmt: skip
        assert s3.head_object(Bucket="mitosis-attachments", Key=f"{GROUP}/data.bin")["ContentLength"] == 7
        assert "Traceback" not in coordinator.log()
    finally:
        coordinator.stop()
        if server is not None:
            server.stop()
