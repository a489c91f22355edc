"""Serve the coordinator under gunicorn (embedded), after migrating the database."""

from __future__ import annotations

import logging
from collections.abc import Mapping
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
    from app import create_app

    settings = prepare(overrides, migrate=migrate)
    # The shutdown secret must be the same in every gunicorn process: fix it before forking.
    fixed = dict(overrides or {})
    fixed["SHUTDOWN_SECRET"] = settings["SHUTDOWN_SECRET"]
    if settings.get("SHUTDOWN_SECRET_GENERATED"):
        log.warning("Set random shutdown secret: %s", settings["SHUTDOWN_SECRET"])
    create_app(fixed)  # fail fast on bad configuration, bootstrap the admin, before forking
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
