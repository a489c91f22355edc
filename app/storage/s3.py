"""S3 backend (S3, MinIO, Ceph RGW, moto): path-style, SigV4 presigned URLs, buckets created if missing.

Building the store and presigning touch no network, so a coordinator starts and signs download URLs while
S3 is unreachable. The buckets are checked (and created) once, before the first upload URL is issued;
until that succeeds, and on any operation that reaches S3 and cannot, the store raises StoreUnavailable
(503 with a message naming the endpoint) instead of a 500.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import boto3
from botocore.client import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.errors import StoreUnavailable
from app.storage.base import PUT_URL_EXPIRES, bucket_names, get_expires

log = logging.getLogger(__name__)


class S3Storage:
    """Objects in S3-compatible buckets, reached through SigV4 presigned URLs."""

    SETTINGS = (
        "S3_URL",
        "S3_ACCESS_KEY",
        "S3_SECRET_KEY",
        "S3_REGION",
        "ARTIFACTS_BUCKET",
        "ATTACHMENTS_BUCKET",
    )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> S3Storage:
        """The S3 store configured by the coordinator's settings."""
        return cls(
            endpoint_url=config["S3_URL"],
            access_key=config.get("S3_ACCESS_KEY"),
            secret_key=config.get("S3_SECRET_KEY"),
            region=config.get("S3_REGION") or "us-east-1",
            buckets=bucket_names(config),
        )

    def __init__(
        self,
        *,
        endpoint_url: str,
        access_key: str | None,
        secret_key: str | None,
        region: str,
        buckets: dict[str, str],
    ):
        self.buckets = buckets
        self.endpoint_url = endpoint_url
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3},
                connect_timeout=5,  # an unreachable endpoint answers 503 in seconds, not minutes
                read_timeout=30,
            ),
        )
        self.region = region
        self._buckets_ready = False
        self._buckets_lock = threading.Lock()

    def _unavailable(self, exc: Exception) -> StoreUnavailable:
        log.warning("object store %s unavailable: %s", self.endpoint_url, exc)
        return StoreUnavailable(
            f"Object store unavailable: S3 at {self.endpoint_url} cannot be reached; try again later"
        )

    def _require_buckets(self) -> None:
        """Check (and create) the buckets once; StoreUnavailable while S3 cannot be reached."""
        if self._buckets_ready:
            return
        with self._buckets_lock:
            if self._buckets_ready:
                return
            try:
                self._ensure_buckets()
            except (BotoCoreError, ClientError) as exc:
                raise self._unavailable(exc) from exc
            self._buckets_ready = True

    def _ensure_buckets(self) -> None:
        for name in self.buckets.values():
            try:
                self.client.head_bucket(Bucket=name)
            except ClientError:
                kwargs = {}
                if self.region != "us-east-1":
                    kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
                try:
                    self.client.create_bucket(Bucket=name, **kwargs)
                    log.info("created bucket %s", name)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") not in (
                        "BucketAlreadyOwnedByYou",
                        "BucketAlreadyExists",
                    ):
                        raise

    def presign_put(self, bucket: str, key: str, content_length: int) -> str:
        self._require_buckets()  # an upload URL is only useful into an existing bucket
        return self.client.generate_presigned_url(
            "put_object",
            Params={"Bucket": self.buckets[bucket], "Key": key, "ContentLength": content_length},
            ExpiresIn=PUT_URL_EXPIRES,
        )

    def presign_get(self, bucket: str, key: str, size: int, *, batch: bool = False) -> str:
        return self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.buckets[bucket], "Key": key},
            ExpiresIn=get_expires(size, batch=batch),
        )

    def delete(self, bucket: str, keys: Iterable[str]) -> list[str]:
        keys = list(keys)
        failed: list[str] = []
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            chunk = keys[start : start + 1000]
            try:
                resp = self.client.delete_objects(
                    Bucket=self.buckets[bucket],
                    Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True},
                )
            except (ClientError, BotoCoreError) as exc:
                log.warning("delete of %d objects in %s failed: %s", len(chunk), bucket, exc)
                failed.extend(chunk)
                continue
            failed.extend(err["Key"] for err in resp.get("Errors", []) if err.get("Code") != "NoSuchKey")
        return failed

    def head(self, bucket: str, key: str) -> int | None:
        try:
            return int(self.client.head_object(Bucket=self.buckets[bucket], Key=key)["ContentLength"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        except BotoCoreError as exc:
            raise self._unavailable(exc) from exc
