"""What every store shares: the Storage protocol, the logical buckets, object keys and URL lifetimes.

Services speak of two logical buckets, "artifacts" and "attachments"; the backends map them to the configured
bucket names (ARTIFACTS_BUCKET, ATTACHMENTS_BUCKET). Object keys are built only by `artifact_key` and
`attachment_key` below.
"""

from __future__ import annotations

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


def bucket_names(config: Mapping[str, Any]) -> dict[str, str]:
    """The configured bucket name of each logical bucket (ARTIFACTS_BUCKET, ATTACHMENTS_BUCKET)."""
    return {ARTIFACTS: config["ARTIFACTS_BUCKET"], ATTACHMENTS: config["ATTACHMENTS_BUCKET"]}


class Storage(Protocol):
    def presign_put(self, bucket: str, key: str, content_length: int) -> str: ...

    def presign_get(self, bucket: str, key: str, size: int, *, batch: bool = False) -> str: ...

    def delete(self, bucket: str, keys: Iterable[str]) -> list[str]:
        """Delete objects (missing ones count as deleted); return the keys that could not be deleted."""
        ...

    def head(self, bucket: str, key: str) -> int | None:
        """The object's size in bytes, or None if it does not exist."""
        ...


def artifact_key(task_uuid: uuid_mod.UUID | str, content_type: ArtifactContentType, attempt: int = 0) -> str:
    """`{task_uuid}/{result|exec-log|std-log}.tar.gz` in the artifacts bucket (a user's upload), or
    `{task_uuid}/attempt-{n}/...` for the upload of the task's attempt n."""
    filename = ArtifactContentType(content_type).filename
    return f"{task_uuid}/attempt-{attempt}/{filename}" if attempt else f"{task_uuid}/{filename}"


def parse_artifact_key(key: str) -> tuple[uuid_mod.UUID, ArtifactContentType, int] | None:
    """(task uuid, content type, attempt) of an artifact_key; None for anything else."""
    by_filename = {ct.filename: ct for ct in ArtifactContentType}
    parts = key.split("/")
    try:
        task_uuid = uuid_mod.UUID(parts[0])
        if len(parts) == 2:
            return task_uuid, by_filename[parts[1]], 0
        if len(parts) == 3 and parts[1].startswith("attempt-"):
            attempt = int(parts[1].removeprefix("attempt-"))
            return (task_uuid, by_filename[parts[2]], attempt) if attempt > 0 else None
    except (ValueError, KeyError):
        return None
    return None


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
