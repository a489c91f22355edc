"""The coordinator: create_app() builds the Flask app; nothing happens at import time."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the coordinator app from defaults < config.toml < MITO_* env < `config` (no database writes)."""
    from app import api as routes
    from app import apidocs, db, logs, request_metrics, security, ui
    from app.config import load_settings
    from app.errors import register_error_handlers
    from app.extensions import jwt, make_api
    from app.jobs import config as jobs_config
    from app.services import liveness

    settings = load_settings(config)
    app = Flask(__name__)
    app.config.update(settings)
    security.configure(app)
    apidocs.configure(app)
    db.bind(app.config["DB_URL"])
    db.init_app(app)  # first: a request's reads begin DEFERRED on SQLite

    logs.init_app(app)  # request ids and one access line per request (MITO_LOG_FORMAT)
    request_metrics.init_app(app)  # latency histograms for GET /metrics
    api = make_api()
    api.init_app(app)
    apidocs.register_assets(app)
    app.extensions["mito_api"] = api
    jwt.init_app(app)
    routes.register(app, api)
    jobs_config.init_app(app)
    ui.init_app(app)  # the dashboard at /ui: static pages that call this API
    liveness.init_app(app)  # serving processes mark the coordinator alive (the reaper judges by it)
    register_error_handlers(app)  # after api.init_app so that ours replace flask-smorest's handlers
    security.register_jwt_loaders(jwt)

    @app.teardown_appcontext
    def _remove_session(_exc):
        db.session.remove()

    return app
