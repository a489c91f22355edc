"""S3 backend (S3, MinIO, Ceph RGW, moto): path-style, SigV4 presigned URLs, buckets created if missing."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import boto3
from botocore.client import Config
from botocore.exceptions import BotoCoreError, ClientError

from app.storage import PUT_URL_EXPIRES, get_expires

log = logging.getLogger(__name__)


class S3Storage:
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
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            region_name=region,
            config=Config(
                signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 3}
            ),
        )
        self.region = region
        self._ensure_buckets()

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
