"""The object store as the services see it: the configured backend and the download URLs it signs.

Upload URLs are issued by the artifact and attachment services once the quota is booked (`quota`);
deleted objects leave the store through the deletion queue (`deletion`).
"""

from __future__ import annotations

import uuid as uuid_mod
from dataclasses import dataclass

from flask import current_app

from app.storage import Storage, get_storage


def store() -> Storage:
    """The object store configured for the current app."""
    return get_storage(current_app.config)


@dataclass(frozen=True)
class Upload:
    """A presigned PUT URL for exactly the booked number of bytes; `exist`: the key already had an object."""

    url: str
    exist: bool = False


@dataclass(frozen=True)
class Download:
    """A presigned GET URL for one object and the object's size."""

    url: str
    size: int


@dataclass(frozen=True)
class ArtifactDownload(Download):
    """A download in a batch answer, named by the task the artifact belongs to."""

    uuid: uuid_mod.UUID


@dataclass(frozen=True)
class AttachmentDownload(Download):
    """A download in a batch answer, named by the attachment key."""

    key: str


def upload(bucket: str, key: str, content_length: int, *, exist: bool = False) -> Upload:
    """A PUT URL for one object of exactly `content_length` bytes (valid 1 h)."""
    return Upload(url=store().presign_put(bucket, key, content_length), exist=exist)


def download(bucket: str, key: str, size: int) -> Download:
    """A GET URL for one object (valid 1 h to 1 day depending on its size)."""
    return Download(url=store().presign_get(bucket, key, size), size=size)


def batch_url(bucket: str, key: str, size: int) -> str:
    """A GET URL for one object of a batch answer (valid 1 day)."""
    return store().presign_get(bucket, key, size, batch=True)
