"""The HTTP API: one Blueprint per spec tag, plus the local store's signed-URL routes."""

from __future__ import annotations

from flask import Flask
from flask_smorest import Api

# Modules that add routes to another tag's blueprint (artifacts on Tasks, attachments on Groups...) are
# imported for that effect: every route exists before the blueprints are registered below.
from app.api import (
    admin,
    admin_workers,  # noqa: F401
    artifacts,  # noqa: F401
    attachments,  # noqa: F401
    auth,
    campaigns,
    dashboard,
    explain,
    groups,
    health,
    local_store,
    metrics,
    output,
    pubsub,
    storage_admin,  # noqa: F401
    storage_workers,  # noqa: F401
    tasks,
    users,
    workers,
)
from app.api._storage import register_converters

TAGS = (
    health,
    auth,
    pubsub,
    users,
    groups,
    workers,
    tasks,
    admin,
    dashboard,
    metrics,
    campaigns,
    explain,
    output,
)


def register(app: Flask, api: Api) -> None:
    """Path converters, then every tag's blueprint, then the local store's signed URLs."""
    register_converters(app, api)
    for module in TAGS:
        api.register_blueprint(module.blp)
    app.register_blueprint(local_store.blueprint)
