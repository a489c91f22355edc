"""Housekeeping jobs on Celery: the app for `celery -A app.jobs worker|beat` and the producer used by the API.

The module-level `celery` app is configured lazily from the coordinator's settings: the first time Celery
needs its configuration it builds the Flask app with create_app() (env MITO_*), so importing this module
has no side effects. Each task runs inside that Flask app's context and removes the session afterwards.
The web process gets its own producer-only Celery app (`config.init_app`) with short timeouts, so a Redis
outage never hangs a request.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import Celery, Task
from celery.signals import task_postrun, worker_process_init
from flask import Flask
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from app import create_app, db
from app.jobs.config import celery_config
from app.logs import watch_celery
from app.services import metrics

log = logging.getLogger(__name__)

JOB_MODULES = ["app.jobs.workers", "app.jobs.tasks", "app.jobs.storage", "app.jobs.quota", "app.jobs.output"]

_flask_app = None
_flask_app_lock = threading.Lock()


def get_flask_app() -> Flask:
    """The Flask app the Celery worker and beat run in (created once, from the MITO_* environment)."""
    global _flask_app
    with _flask_app_lock:
        if _flask_app is None:
            _flask_app = create_app()
        return _flask_app


class AppContextTask(Task):
    """Run every task inside the coordinator's app context (flask examples/celery celery_init_app)."""

    abstract = True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        with get_flask_app().app_context():
            started, succeeded = time.perf_counter(), False
            try:
                result = self.run(*args, **kwargs)
                succeeded = True
                return result
            finally:
                record_run(self.name, succeeded=succeeded, seconds=time.perf_counter() - started)


def record_run(name: str, *, succeeded: bool, seconds: float) -> None:
    """Count a job run for /metrics; a database that cannot take it is logged, never raised over the job."""
    try:
        metrics.record_job(name, succeeded=succeeded, seconds=seconds)
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.warning("could not count the run of job %s: %s", name, exc)


celery = Celery("mitosis", task_cls=AppContextTask, include=JOB_MODULES, set_as_current=False)
watch_celery()  # job logging: MITO_LOG_FORMAT, one line per run with its id, name and duration


@celery.on_configure.connect
def _configure(sender: Celery, **_kwargs: Any) -> None:
    sender.config_from_object(celery_config(get_flask_app().config, producer=False))


@task_postrun.connect
def _remove_session(**_kwargs: Any) -> None:
    db.session.remove()


@worker_process_init.connect
def _fresh_connections(**_kwargs: Any) -> None:
    """A prefork child must not share its parent's database connections."""
    for engine in db._engines.values():
        engine.dispose(close=False)


def job(name: str, *, retry_on: tuple[type[BaseException], ...] = ()):
    """Declare a housekeeping task: stable name, no result, retries with backoff on transient errors."""
    return celery.task(
        name=name,
        ignore_result=True,
        autoretry_for=(OperationalError, *retry_on),
        retry_backoff=True,
        retry_backoff_max=60,
        max_retries=5,
    )
