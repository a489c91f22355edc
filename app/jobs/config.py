"""Celery settings built from the coordinator's settings, and the web process's producer (no worker side).

Kept apart from the Celery app in `app.jobs` so that create_app can register the producer without importing
the worker side, which itself builds the Flask app with create_app.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from celery import Celery
from flask import Flask

from app.jobs import schedule, transport


def broker_url(settings: Mapping[str, Any]) -> str:
    """MITO_BROKER_URL (default: the Redis URL); else a file broker in the data dir (no server)."""
    if settings.get("BROKER_URL"):
        return settings["BROKER_URL"]
    return "filesystem://"


def celery_config(settings: Mapping[str, Any], *, producer: bool) -> dict[str, Any]:
    """Celery settings from the coordinator's settings; a producer fails fast instead of retrying."""
    url = broker_url(settings)
    conf: dict[str, Any] = {
        "broker_url": url,
        "broker_connection_retry_on_startup": True,
        "task_ignore_result": True,
        "result_backend": None,
        # Early acks: an ack that fails on a lost broker connection stops the worker, and a lost run
        # costs nothing (every job is periodic and idempotent; the schedule sends it again).
        "task_acks_late": False,
        "worker_prefetch_multiplier": 1,
        "worker_hijack_root_logger": False,
        "beat_schedule": schedule.beat_schedule(settings),
        "timezone": "UTC",
    }
    if url.startswith("redis"):
        conf["broker_transport_options"] = {"socket_connect_timeout": 2, "socket_timeout": 5}
    if url.startswith("redis://") and not producer:
        conf["broker_transport"] = transport.NAME  # survives a lost connection (app/jobs/transport.py)
    if url == "filesystem://":
        folder = Path(settings["DATA_DIR"]).resolve() / "broker"
        (folder / "processed").mkdir(parents=True, exist_ok=True)
        conf["broker_transport_options"] = {
            "data_folder_in": str(folder),
            "data_folder_out": str(folder),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
        }
    if producer:
        conf.update(
            broker_connection_timeout=2,
            broker_connection_max_retries=0,
            task_publish_retry=False,
        )
        if url.startswith("redis"):
            conf["broker_transport_options"] = {
                "socket_connect_timeout": 1,
                "socket_timeout": 2,
                "max_retries": 0,
            }
    return conf


def init_app(app: Flask) -> Celery | None:
    """Register a producer Celery app in app.extensions["celery"] when a broker is configured."""
    if not app.config.get("BROKER_URL"):
        return None
    producer = Celery("mitosis-producer", set_as_current=False)
    producer.config_from_object(celery_config(app.config, producer=True))
    app.extensions["celery"] = producer
    return producer
