"""The store registry: the backend follows S3_URL, and one store is built per distinct configuration."""

from __future__ import annotations

from app.storage import BACKENDS, backend_name, get_storage
from app.storage.local import LocalStorage
from app.storage.s3 import S3Storage


def _local(tmp_path, **extra):
    return {
        "DATA_DIR": str(tmp_path),
        "JWT_SECRET": "k",
        "ARTIFACTS_BUCKET": "a",
        "ATTACHMENTS_BUCKET": "b",
        **extra,
    }


def test_registry_names_both_backends():
    assert set(BACKENDS) == {"s3", "local"}
    assert backend_name({"S3_URL": "http://s3"}) == "s3"
    assert backend_name({"S3_URL": None}) == backend_name({}) == "local"


def test_local_store_is_built_once_per_configuration(tmp_path):
    store = get_storage(_local(tmp_path))
    assert isinstance(store, LocalStorage)
    assert store.root == tmp_path.resolve() / "objects"
    assert store.buckets == {"artifacts": "a", "attachments": "b"}
    assert get_storage(_local(tmp_path)) is store
    assert get_storage(_local(tmp_path, PUBLIC_URL="http://x")) is not store


def test_s3_settings_build_the_s3_store():
    assert BACKENDS["s3"].build == S3Storage.from_config
    assert "S3_URL" in BACKENDS["s3"].settings and "DATA_DIR" in BACKENDS["local"].settings
