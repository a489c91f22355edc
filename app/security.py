"""JWT configuration and error loaders (every JWT failure goes through the one error renderer)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from app.config import DEFAULT_JWT_SECRET, MIN_JWT_SECRET_BYTES, ConfigError, production
from app.errors import error_response
from app.services import throttle
from mito.vocab.units import parse_duration

log = logging.getLogger(__name__)


def configure(app: Flask) -> None:
    """Set the JWT keys and lifetimes (the secret checked by jwt_secret); check the login limits."""
    cfg = app.config
    secret = jwt_secret(cfg)
    throttle.limits(cfg)  # a bad MITO_LOGIN_FAILURES_* fails the start, not the first failed login
    cfg.update(
        JWT_SECRET_KEY=secret,
        JWT_ALGORITHM="HS256",
        JWT_TOKEN_LOCATION=["headers"],
        JWT_DECODE_LEEWAY=0,
        ACCESS_TOKEN_EXPIRES_SECONDS=int(parse_duration(cfg["ACCESS_TOKEN_EXPIRES_IN"])),
        HEARTBEAT_TIMEOUT_SECONDS=int(parse_duration(cfg["HEARTBEAT_TIMEOUT"])),
        TASK_TIMEOUT_GRACE_SECONDS=int(parse_duration(cfg["TASK_TIMEOUT_GRACE"])),
    )
    if cfg.get("SHUTDOWN_SECRET_GENERATED"):
        log.warning("Set random shutdown secret: %s", cfg["SHUTDOWN_SECRET"])


def jwt_secret(cfg: Mapping[str, Any]) -> str:
    """The JWT secret to use; ConfigError if empty, or default or short in production.

    The secret signs tokens and local-store URLs: a single-machine SQLite install may keep the default
    (a random one is kept in the data directory instead); production needs a shared random secret of at
    least MIN_JWT_SECRET_BYTES bytes.
    """
    secret = cfg["JWT_SECRET"]
    if not isinstance(secret, str) or not secret.strip():
        raise ConfigError("MITO_JWT_SECRET is empty: set a random secret of at least 32 bytes")
    in_production = production(cfg)
    if secret == DEFAULT_JWT_SECRET and not cfg.get("TESTING"):
        if in_production or not cfg["DB_URL"].startswith("sqlite"):
            raise ConfigError(
                "MITO_JWT_SECRET must be set in production (a shared random secret of at least 32 bytes "
                "for every replica, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        return _persistent_secret(Path(cfg["DATA_DIR"]) / "jwt_secret")
    if in_production and len(secret.encode()) < MIN_JWT_SECRET_BYTES:
        raise ConfigError(
            f"MITO_JWT_SECRET is {len(secret.encode())} bytes: production needs at least "
            f"{MIN_JWT_SECRET_BYTES} (a random one, e.g. `python -c 'import secrets; "
            "print(secrets.token_urlsafe(48))'`)"
        )
    return secret


def _persistent_secret(path: Path) -> str:
    """A random secret kept in the data directory, so tokens survive a restart of a standalone install."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def register_jwt_loaders(jwt) -> None:
    def invalid(_reason=None, *_args):
        return error_response(401, "Authentication error: Invalid token")

    jwt.unauthorized_loader(lambda reason: error_response(401, f"Authentication error: {reason}"))
    jwt.invalid_token_loader(invalid)
    jwt.expired_token_loader(lambda _h, _p: error_response(401, "Authentication error: Token has expired"))
    jwt.revoked_token_loader(lambda _h, _p: invalid())
    jwt.needs_fresh_token_loader(lambda _h, _p: invalid())
    jwt.user_lookup_error_loader(lambda _h, _p: invalid())
    jwt.token_verification_failed_loader(lambda _h, _p: invalid())
    # Every token we issue expires; one without `exp` (forged with a leaked secret, or by hand) never would.
    jwt.token_verification_loader(lambda _header, payload: "exp" in payload)
