"""Coordinator settings: defaults < config.toml ([coordinator]) < MITO_* environment < explicit overrides."""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

DEFAULT_JWT_SECRET = "mitosis-insecure-default-jwt-secret"
DEFAULT_ADMIN_PASSWORD = "mitosis_admin"
MIN_JWT_SECRET_BYTES = 32  # HS256 wants a key at least as long as its hash (RFC 7518 3.2)
_TRUE = {"1", "true", "yes", "on"}

DEFAULTS: dict[str, Any] = {
    "DATA_DIR": "./mito-data",
    "DB_URL": None,  # default: SQLite file in DATA_DIR
    "BIND": "127.0.0.1:5000",
    "ADMIN_USER": "mitosis_admin",
    "ADMIN_PASSWORD": DEFAULT_ADMIN_PASSWORD,
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
    "LIVENESS_MARKER": True,  # serving processes mark the coordinator alive (app/services/liveness.py)
    "JOBS_INTERVAL_SCALE": "1",  # multiplies every housekeeping interval (app/jobs/schedule.py)
    "ACCESS_TOKEN_EXPIRES_IN": "7d",
    "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
    "PRODUCTION": None,  # unset: on with PostgreSQL, off with SQLite (see production())
    "AUTO_MIGRATE": True,
    "LOGIN_FAILURES_PER_USER": "10/minute",  # failed logins for one user before 429 (services/throttle.py)
    "LOGIN_FAILURES_PER_ADDRESS": "30/minute",  # failed logins from one client address before 429
    "LOGIN_CONCURRENCY": 1,  # password checks (argon2) at once per coordinator process; more wait their turn
    "METRICS_TOKEN": None,  # unset: GET /metrics answers loopback callers only
}


def load_settings(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict:
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


class ConfigError(click.ClickException):
    """A setting the coordinator refuses to start with; `mito` commands print it as one line and exit 1."""


def production(settings: Mapping[str, Any]) -> bool:
    """Production mode: MITO_PRODUCTION when set (1/0), else on for any database but SQLite.

    In production the coordinator refuses a default, empty or short JWT secret and a bootstrap admin whose
    password is the default one.
    """
    value = settings.get("PRODUCTION")
    if value is None or (isinstance(value, str) and not value.strip()):
        return not str(settings["DB_URL"]).startswith("sqlite")
    return value.strip().lower() in _TRUE if isinstance(value, str) else bool(value)


def normalise_db_url(url: str) -> str:
    """Accept postgres:// and postgresql:// (driver psycopg2) and sqlite:///path."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


def _coerce(default: Any, value: str) -> Any:
    if isinstance(default, bool):
        return value.strip().lower() in _TRUE
    if isinstance(default, int):
        return int(value)
    return value
