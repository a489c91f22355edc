"""One Blueprint per spec tag."""

from __future__ import annotations

import importlib

# Modules that add routes to another tag's blueprint (e.g. artifacts on Tasks) are listed after it.
MODULES = ["health", "auth", "pubsub", "users", "groups", "workers", "tasks", "admin"]
EXTRA_ROUTE_MODULES: list[str] = ["admin_workers", "attachments", "artifacts", "storage_workers", "storage_admin"]


def blueprints():
    for name in EXTRA_ROUTE_MODULES:
        importlib.import_module(f"app.api.{name}")
    return [importlib.import_module(f"app.api.{name}").blp for name in MODULES]
