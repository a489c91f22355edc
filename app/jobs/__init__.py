"""Housekeeping jobs on Celery: the app for `celery -A app.jobs worker|beat` and the producer used by the API.

The module-level `celery` app is configured lazily from the coordinator's settings: the first time Celery
needs its configuration it builds the Flask app with create_app() (env MITO_*), so importing this module
has no side effects. Each task runs inside that Flask app's context and removes the session afterwards.
The web process gets its own producer-only Celery app (`init_app`) with short timeouts, so a Redis outage
never hangs a request.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from celery import Celery, Task
from celery.signals import task_postrun, worker_process_init

JOB_MODULES = ["app.jobs.workers", "app.jobs.tasks", "app.jobs.storage", "app.jobs.quota"]

_flask_app = None
_flask_app_lock = threading.Lock()


def get_flask_app():
    """The Flask app the Celery worker and beat run in (created once, from the MITO_* environment)."""
    global _flask_app
    with _flask_app_lock:
        if _flask_app is None:
            from app import create_app

            _flask_app = create_app()
        return _flask_app


class AppContextTask(Task):
    """Run every task inside the coordinator's app context (flask examples/celery celery_init_app)."""

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with get_flask_app().app_context():
            return self.run(*args, **kwargs)


def broker_url(settings) -> str:
    """MITO_BROKER_URL (default: the Redis URL); else a file broker in the data dir (no server)."""
    if settings.get("BROKER_URL"):
        return settings["BROKER_URL"]
    return "filesystem://"


def celery_config(settings, *, producer: bool) -> dict[str, Any]:
    """Celery settings from the coordinator's settings; a producer fails fast instead of retrying."""
    from app.jobs import schedule

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


celery = Celery("mitosis", task_cls=AppContextTask, include=JOB_MODULES, set_as_current=False)


@celery.on_configure.connect
def _configure(sender: Celery, **_kwargs: Any) -> None:
    sender.config_from_object(celery_config(get_flask_app().config, producer=False))


@task_postrun.connect
def _remove_session(**_kwargs: Any) -> None:
    from app import db

    db.session.remove()


@worker_process_init.connect
def _fresh_connections(**_kwargs: Any) -> None:
    """A prefork child must not share its parent's database connections."""
    from app.db import _engines

    for engine in _engines.values():
        engine.dispose(close=False)


def init_app(app) -> Celery | None:
    """Register a producer Celery app in app.extensions["celery"] when a broker is configured."""
    if not app.config.get("BROKER_URL"):
        return None
    producer = Celery("mitosis-producer", set_as_current=False)
    producer.config_from_object(celery_config(app.config, producer=True))
    app.extensions["celery"] = producer
    return producer


def job(name: str, *, retry_on: tuple[type[BaseException], ...] = ()):
    """Declare a housekeeping task: stable name, no result, retries with backoff on transient errors."""
    from sqlalchemy.exc import OperationalError

    return celery.task(
        name=name,
        ignore_result=True,
        autoretry_for=(OperationalError, *retry_on),
        retry_backoff=True,
        retry_backoff_max=60,
        max_retries=5,
    )
