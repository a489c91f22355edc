"""The object store: one interface (`base.Storage`), two backends chosen by a registry.

S3 (boto3 presigned URLs) when S3_URL is set, else the coordinator's own local disk under DATA_DIR/objects
(signed URLs served by `app/api/local_store.py`). One store instance per distinct configuration.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from app.storage.base import (
    ARTIFACTS,
    ATTACHMENTS,
    BUCKETS,
    MAX_CONTENT_LENGTH,
    MAX_OBJECT_KEY,
    PUT_URL_EXPIRES,
    Storage,
    artifact_key,
    attachment_key,
    get_expires,
    parse_artifact_key,
    validate_attachment_key,
)
from app.storage.local import LocalStorage
from app.storage.s3 import S3Storage

__all__ = [
    "ARTIFACTS",
    "ATTACHMENTS",
    "BACKENDS",
    "BUCKETS",
    "MAX_CONTENT_LENGTH",
    "MAX_OBJECT_KEY",
    "PUT_URL_EXPIRES",
    "Storage",
    "artifact_key",
    "parse_artifact_key",
    "attachment_key",
    "backend_name",
    "get_expires",
    "get_storage",
    "validate_attachment_key",
]


class Backend(NamedTuple):
    """A store implementation: the settings that identify one instance, and how to build it."""

    settings: tuple[str, ...]
    build: Callable[[Mapping[str, Any]], Storage]


BACKENDS: dict[str, Backend] = {
    "s3": Backend(S3Storage.SETTINGS, S3Storage.from_config),
    "local": Backend(LocalStorage.SETTINGS, LocalStorage.from_config),
}

_cache: dict[tuple[Any, ...], Storage] = {}
_cache_lock = threading.Lock()


def backend_name(config: Mapping[str, Any]) -> str:
    """ "s3" when S3_URL is set, else "local"."""
    return "s3" if config.get("S3_URL") else "local"


def get_storage(config: Mapping[str, Any]) -> Storage:
    """The store for these settings (built once per distinct configuration)."""
    name = backend_name(config)
    backend = BACKENDS[name]
    ident = (name, *(str(config.get(key)) for key in backend.settings))
    with _cache_lock:
        store = _cache.get(ident)
        if store is None:
            store = backend.build(config)
            _cache[ident] = store
        return store
