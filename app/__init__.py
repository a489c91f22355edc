"""The coordinator: create_app() builds the Flask app; nothing happens at import time."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask

log = logging.getLogger(__name__)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the coordinator app from defaults < config.toml < MITO_* env < `config`."""
    from app import db, jobs, security, storage
    from app.api import blueprints
    from app.config import load_settings
    from app.errors import register_error_handlers
    from app.extensions import jwt, make_api
    from app.services import user as user_service

    settings = load_settings(config)
    app = Flask(__name__)
    app.config.update(settings)
    security.configure(app)
    app.config.update(
        API_TITLE="Mitosis API",
        API_VERSION="0.6.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist/",
        API_SPEC_OPTIONS={
            "components": {
                "securitySchemes": {
                    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                    "workerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                }
            }
        },
    )
    db.bind(app.config["DB_URL"])

    api = make_api()
    api.init_app(app)
    app.extensions["mito_api"] = api
    jwt.init_app(app)
    storage.init_app(app, api)  # path converters (before the blueprints) and the local store's signed URLs
    for blp in blueprints():
        api.register_blueprint(blp)
    jobs.init_app(app)
    register_error_handlers(app)  # after api.init_app so that ours replace flask-smorest's handlers
    security.register_jwt_loaders(jwt)

    @app.teardown_appcontext
    def _remove_session(_exc):
        db.session.remove()

    if app.config.get("BOOTSTRAP_ADMIN", True):
        with app.app_context():
            user_service.ensure_admin(app.config["ADMIN_USER"], app.config["ADMIN_PASSWORD"])
    return app
