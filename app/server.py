"""Serve the coordinator under gunicorn (embedded), after migrating the database."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

log = logging.getLogger(__name__)


class _Gunicorn(BaseApplication):
    def __init__(self, app_factory, options: dict[str, Any]):
        self._factory = app_factory
        self._options = options
        super().__init__()

    def load_config(self):
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        return self._factory()


def prepare(overrides: Mapping[str, Any] | None = None, *, migrate: bool = True) -> dict:
    """Resolve settings, create the data directory and apply migrations."""
    from app import migrate as migrations
    from app.config import load_settings

    settings = load_settings(overrides)
    Path(settings["DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    if migrate:
        migrations.upgrade(settings["DB_URL"])
    return settings


def serve(overrides: Mapping[str, Any] | None = None, *, migrate: bool = True, processes: int = 1) -> None:
    """Run the REST API until SIGTERM/SIGINT or an admin shutdown; in-flight requests finish first."""
    from app import create_app, db

    settings = prepare(overrides, migrate=migrate)
    # The shutdown secret must be the same in every gunicorn process: fix it before forking.
    fixed = dict(overrides or {})
    fixed["SHUTDOWN_SECRET"] = settings["SHUTDOWN_SECRET"]
    if settings.get("SHUTDOWN_SECRET_GENERATED"):
        log.warning("Set random shutdown secret: %s", settings["SHUTDOWN_SECRET"])
    create_app(fixed)  # fail fast on bad configuration, bootstrap the admin, before forking
    db.dispose_engines()  # gunicorn forks workers: an inherited pooled connection would be shared by them
    options = {
        "bind": settings["BIND"],
        "workers": processes,
        "worker_class": "gthread",
        "threads": 8,
        "graceful_timeout": 30,
        "accesslog": "-",
        "loglevel": "info",
    }
    _Gunicorn(lambda: create_app(fixed), options).run()


def shutdown_callback(environ: Mapping[str, Any]) -> Callable[[], None]:
    """What stops this server once the shutdown response has been sent.

    Under gunicorn: SIGTERM to the master, which stops accepting, lets every worker finish its in-flight
    requests (graceful_timeout) and exits 0. Tests of the in-process app set SHUTDOWN_HOOK instead.
    """
    from flask import current_app

    hook = current_app.config.get("SHUTDOWN_HOOK")
    if hook is not None:
        return hook
    if str(environ.get("SERVER_SOFTWARE", "")).startswith("gunicorn"):
        master = os.getppid()
        return lambda: os.kill(master, signal.SIGTERM)
    return lambda: log.warning(
        "shutdown requested, but this server is not gunicorn: stop the process yourself"
    )
