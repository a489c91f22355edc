"""The object store: one interface, two backends (S3 through boto3, or the coordinator's own local disk).

Services speak of two logical buckets, "artifacts" and "attachments"; the backends map them to the configured
bucket names (ARTIFACTS_BUCKET, ATTACHMENTS_BUCKET). Object keys are built only by `artifact_key` and
`attachment_key` below.
"""

from __future__ import annotations

import threading
import uuid as uuid_mod
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from app.errors import InvalidRequest
from app.models.enums import ArtifactContentType

ARTIFACTS = "artifacts"
ATTACHMENTS = "attachments"
BUCKETS = (ARTIFACTS, ATTACHMENTS)

PUT_URL_EXPIRES = 3600  # seconds; a presigned PUT fixes the content length
MAX_OBJECT_KEY = 1024  # "{group}/{key}" must be shorter than this
MAX_CONTENT_LENGTH = 5 * 10**12  # S3's largest object (5 TB); larger declared sizes are refused


class Storage(Protocol):
    def presign_put(self, bucket: str, key: str, content_length: int) -> str: ...

    def presign_get(self, bucket: str, key: str, size: int, *, batch: bool = False) -> str: ...

    def delete(self, bucket: str, keys: Iterable[str]) -> list[str]:
        """Delete objects (missing ones count as deleted); return the keys that could not be deleted."""
        ...

    def head(self, bucket: str, key: str) -> int | None:
        """The object's size in bytes, or None if it does not exist."""
        ...


def artifact_key(task_uuid: uuid_mod.UUID | str, content_type: ArtifactContentType) -> str:
    """`{task_uuid}/{result|exec-log|std-log}.tar.gz` in the artifacts bucket."""
    return f"{task_uuid}/{ArtifactContentType(content_type).filename}"


def attachment_key(group_name: str, key: str) -> str:
    """`{group}/{key}` in the attachments bucket; refuses keys that could escape or alias (400)."""
    validate_attachment_key(key)
    full = f"{group_name}/{key}"
    if len(full) >= MAX_OBJECT_KEY:
        raise InvalidRequest(
            f"Attachment key too long: '{{group}}/{{key}}' must be shorter than {MAX_OBJECT_KEY}"
        )
    return full


def validate_attachment_key(key: str) -> None:
    """No empty, `.` or `..` segment (so no `//`, `/./`, leading or trailing `/`), no NUL or control chars."""
    if not isinstance(key, str) or not key:
        raise InvalidRequest("Invalid attachment key: must not be empty")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise InvalidRequest("Invalid attachment key: control characters are not allowed")
    if any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidRequest("Invalid attachment key: no leading or trailing '/', '//', '.' or '..' segments")
    if len(key) >= MAX_OBJECT_KEY:
        raise InvalidRequest(f"Attachment key too long: must be shorter than {MAX_OBJECT_KEY}")


def get_expires(size: int, *, batch: bool = False) -> int:
    """GET URL lifetime (s): 1 h to 1 day, one second per MB (upstream s3.rs); batch URLs last 1 day."""
    minimum = 86400 if batch else 3600
    return max(minimum, min(86400, max(3600, int(size / 1_000_000))))


_cache: dict[tuple, Storage] = {}
_cache_lock = threading.Lock()


def get_storage(config: Mapping[str, Any]) -> Storage:
    """The store for these settings: S3 when S3_URL is set, else the local disk under DATA_DIR/objects."""
    if config.get("S3_URL"):
        ident: tuple = (
            "s3",
            config["S3_URL"],
            config.get("S3_ACCESS_KEY"),
            config.get("S3_SECRET_KEY"),
            config.get("S3_REGION"),
            config["ARTIFACTS_BUCKET"],
            config["ATTACHMENTS_BUCKET"],
        )
    else:
        ident = (
            "local",
            str(config["DATA_DIR"]),
            config.get("PUBLIC_URL"),
            config.get("JWT_SECRET_KEY"),
            config["ARTIFACTS_BUCKET"],
            config["ATTACHMENTS_BUCKET"],
        )
    with _cache_lock:
        store = _cache.get(ident)
        if store is None:
            store = _make(config)
            _cache[ident] = store
        return store


def _make(config: Mapping[str, Any]) -> Storage:
    buckets = {ARTIFACTS: config["ARTIFACTS_BUCKET"], ATTACHMENTS: config["ATTACHMENTS_BUCKET"]}
    if config.get("S3_URL"):
        from app.storage.s3 import S3Storage

        return S3Storage(
            endpoint_url=config["S3_URL"],
            access_key=config.get("S3_ACCESS_KEY"),
            secret_key=config.get("S3_SECRET_KEY"),
            region=config.get("S3_REGION") or "us-east-1",
            buckets=buckets,
        )
    from app.storage.local import LocalStorage

    return LocalStorage(
        root=config["DATA_DIR"],
        secret=config.get("JWT_SECRET_KEY") or config["JWT_SECRET"],
        public_url=config.get("PUBLIC_URL"),
        bind=config.get("BIND"),
        buckets=buckets,
    )


def init_app(app, api) -> None:
    """Register the artifact path converter, and serve the local store's signed URLs (404 when S3 is used)."""
    from app.api._storage import register_converters
    from app.storage.local import blueprint

    register_converters(app, api)
    app.register_blueprint(blueprint)
