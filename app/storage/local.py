"""Local-disk backend (standalone mode): objects under DATA_DIR/objects, served by the coordinator itself.

The coordinator issues signed, expiring URLs to its own `/storage/{bucket}/{key}` route. The signature is an
HMAC-SHA256, under a key derived from the JWT secret, over the method, bucket, key, expiry and (for PUT) the
exact content length. Bodies are streamed in chunks into a temporary file that is renamed into place only
when exactly the signed number of bytes arrived. Files are named by the SHA-256 of the key, so no key can
reach outside the store or collide with another key's directory.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote, urlencode

from flask import has_request_context, request

from app.errors import Forbidden, InvalidRequest
from app.storage.base import BUCKETS, PUT_URL_EXPIRES, bucket_names, get_expires

CHUNK = 1024 * 1024
ROUTE_PREFIX = "/storage"  # served by app/api/local_store.py


class LocalStorage:
    """Objects as files under DATA_DIR/objects, reached through URLs signed by the coordinator."""

    SETTINGS = (
        "DATA_DIR",
        "PUBLIC_URL",
        "BIND",
        "JWT_SECRET_KEY",
        "JWT_SECRET",
        "ARTIFACTS_BUCKET",
        "ATTACHMENTS_BUCKET",
    )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LocalStorage:
        """The local store configured by the coordinator's settings."""
        return cls(
            root=config["DATA_DIR"],
            secret=config.get("JWT_SECRET_KEY") or config["JWT_SECRET"],
            public_url=config.get("PUBLIC_URL"),
            bind=config.get("BIND"),
            buckets=bucket_names(config),
        )

    def __init__(
        self,
        *,
        root: str | os.PathLike,
        secret: str,
        public_url: str | None,
        bind: str | None,
        buckets: dict[str, str],
    ):
        self.root = Path(root).resolve() / "objects"
        self.buckets = buckets
        self.public_url = public_url.rstrip("/") if public_url else None
        self.bind = bind or "127.0.0.1:5000"
        self._key = hmac.new(secret.encode(), b"mitosis local object store v1", hashlib.sha256).digest()

    # ------------------------------------------------------------ the Storage interface

    def presign_put(self, bucket: str, key: str, content_length: int) -> str:
        return self._url("PUT", bucket, key, int(time.time()) + PUT_URL_EXPIRES, content_length)

    def presign_get(self, bucket: str, key: str, size: int, *, batch: bool = False) -> str:
        return self._url("GET", bucket, key, int(time.time()) + get_expires(size, batch=batch), None)

    def delete(self, bucket: str, keys: Iterable[str]) -> list[str]:
        failed = []
        for key in keys:
            try:
                self.path(bucket, key).unlink(missing_ok=True)
            except OSError:
                failed.append(key)
        return failed

    def head(self, bucket: str, key: str) -> int | None:
        try:
            return self.path(bucket, key).stat().st_size
        except FileNotFoundError:
            return None

    # ------------------------------------------------------------ signing and files

    def path(self, bucket: str, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.root / self.buckets[bucket] / digest[:2] / digest

    def signature(self, method: str, bucket: str, key: str, expires: int, length: int | None) -> str:
        message = "\n".join([method, bucket, key, str(expires), "" if length is None else str(length)])
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def verify(self, method: str, bucket: str, key: str, args: Mapping[str, str]) -> int | None:
        """Check a request's signature and expiry (403 otherwise); return the signed length for PUT."""
        try:
            expires = int(args.get("expires", ""))
            length = int(args["length"]) if method == "PUT" else None
        except (KeyError, ValueError):
            raise Forbidden("Invalid signed URL") from None
        expected = self.signature(method, bucket, key, expires, length)
        if bucket not in BUCKETS or not hmac.compare_digest(expected, args.get("signature", "")):
            raise Forbidden("Invalid signed URL: signature does not match")
        if expires < time.time():
            raise Forbidden("Signed URL has expired")
        return length

    def _url(self, method: str, bucket: str, key: str, expires: int, length: int | None) -> str:
        params: dict[str, int | str] = {"expires": expires}
        if length is not None:
            params["length"] = length
        params["signature"] = self.signature(method, bucket, key, expires, length)
        return f"{self._base_url()}{ROUTE_PREFIX}/{bucket}/{quote(key, safe='/')}?{urlencode(params)}"

    def _base_url(self) -> str:
        if self.public_url:
            return self.public_url
        if has_request_context():
            return request.host_url.rstrip("/")
        return f"http://{self.bind}"

    def write(self, bucket: str, key: str, stream: IO[bytes], length: int) -> None:
        """Stream exactly `length` bytes into place atomically (temp file + rename); 400 on a short body."""
        target = self.path(bucket, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
        try:
            received = 0
            with os.fdopen(fd, "wb") as out:
                # Content-Length already equals `length`; reading past it would raise 413.
                while received < length and (chunk := stream.read(min(CHUNK, length - received))):
                    received += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if received != length:
                raise InvalidRequest(
                    f"Body length {received} does not match the signed Content-Length {length}"
                )
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
