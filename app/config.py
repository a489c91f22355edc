"""Coordinator settings: defaults < config.toml ([coordinator] table) < MITO_* environment < explicit overrides."""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_JWT_SECRET = "mitosis-insecure-default-jwt-secret"

DEFAULTS: dict[str, Any] = {
    "DATA_DIR": "./mito-data",
    "DB_URL": None,  # default: SQLite file in DATA_DIR
    "BIND": "127.0.0.1:5000",
    "ADMIN_USER": "mitosis_admin",
    "ADMIN_PASSWORD": "mitosis_admin",
    "REDIS_URL": None,
    "REDIS_WORKER_URL": None,  # the URL handed to agents; default: REDIS_URL
    "REDIS_CLIENT_URL": None,  # the URL handed to clients by GET /redis; default: REDIS_URL
    "BROKER_URL": None,  # default: REDIS_URL, else the embedded broker
    "S3_URL": None,  # unset: local-disk store under DATA_DIR
    "S3_ACCESS_KEY": "mitosis_access",
    "S3_SECRET_KEY": "mitosis_secret",
    "S3_REGION": "us-east-1",
    "ARTIFACTS_BUCKET": "mitosis-artifacts",
    "ATTACHMENTS_BUCKET": "mitosis-attachments",
    "PUBLIC_URL": None,  # base URL of this coordinator for local-store signed URLs; default http://BIND
    "JWT_SECRET": DEFAULT_JWT_SECRET,
    "SHUTDOWN_SECRET": None,  # default: random, logged at WARNING on start
    "HEARTBEAT_TIMEOUT": "600s",
    "TASK_TIMEOUT_GRACE": "60s",
    "MAX_TASK_LOSSES": 3,
    "JOBS_INTERVAL_SCALE": "1",  # multiplies every housekeeping interval (app/jobs/schedule.py)
    "ACCESS_TOKEN_EXPIRES_IN": "7d",
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    "PRODUCTION": False,
    "AUTO_MIGRATE": True,
}


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> dict:
    """Merge the settings layers; keys are upper-case names without the MITO_ prefix."""
    env = os.environ if environ is None else environ
    settings = dict(DEFAULTS)
    config_file = Path((overrides or {}).get("CONFIG_FILE") or env.get("MITO_CONFIG") or "config.toml")
    if config_file.is_file():
        with config_file.open("rb") as fh:
            table = tomllib.load(fh).get("coordinator", {})
        settings.update({k.upper(): v for k, v in table.items()})
    for key, value in env.items():
        if key.startswith("MITO_") and key[5:] in DEFAULTS:
            settings[key[5:]] = _coerce(DEFAULTS[key[5:]], value)
    settings.update(overrides or {})
    if not settings["DB_URL"]:
        data_dir = Path(settings["DATA_DIR"]).resolve()
        settings["DB_URL"] = f"sqlite:///{data_dir / 'mitosis.db'}"
    settings["DB_URL"] = normalise_db_url(settings["DB_URL"])
    if not settings["BROKER_URL"]:
        settings["BROKER_URL"] = settings["REDIS_URL"]
    if not settings["SHUTDOWN_SECRET"]:
        settings["SHUTDOWN_SECRET"] = secrets.token_urlsafe(16)
        settings["SHUTDOWN_SECRET_GENERATED"] = True
    return settings


def normalise_db_url(url: str) -> str:
    """Accept postgres:// and postgresql:// (driver psycopg2) and sqlite:///path."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


def _coerce(default: Any, value: str) -> Any:
    if isinstance(default, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(value)
    return value
