"""The OpenAPI document and the Swagger UI at /docs, with the UI's assets served by the coordinator itself.

The assets come from the pinned swagger-ui-bundle package, so /docs works on a machine without internet.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask
from swagger_ui_bundle import swagger_ui_path

ASSETS_URL = "/docs/assets/"

SETTINGS: dict[str, Any] = {
    "API_TITLE": "Mitosis API",
    "API_VERSION": "0.6.0",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/",
    "OPENAPI_JSON_PATH": "openapi.json",
    "OPENAPI_SWAGGER_UI_PATH": "/docs",
    "OPENAPI_SWAGGER_UI_URL": ASSETS_URL,
    "API_SPEC_OPTIONS": {
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "workerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "metricsToken": {"type": "http", "scheme": "bearer"},
            }
        }
    },
}


def configure(app: Flask) -> None:
    """Set flask-smorest's OpenAPI settings (before `api.init_app`)."""
    app.config.update(SETTINGS)


def register_assets(app: Flask) -> None:
    """Serve Swagger UI's JavaScript and CSS at ASSETS_URL (a plain blueprint: not part of the API spec)."""
    assets = Blueprint(
        "swagger_ui_assets", __name__, static_folder=swagger_ui_path, static_url_path=ASSETS_URL.rstrip("/")
    )
    app.register_blueprint(assets)
