"""JWT configuration and error loaders (every JWT failure goes through the one error renderer)."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

from flask import Flask

from app.config import DEFAULT_JWT_SECRET
from app.errors import error_response
from mito.units import parse_duration

log = logging.getLogger(__name__)


def configure(app: Flask) -> None:
    """Set the JWT keys and lifetimes; refuse a default secret outside single-machine SQLite installs."""
    cfg = app.config
    secret = cfg["JWT_SECRET"]
    if secret == DEFAULT_JWT_SECRET and not cfg.get("TESTING"):
        if not cfg["DB_URL"].startswith("sqlite") or cfg.get("PRODUCTION"):
            raise RuntimeError("MITO_JWT_SECRET must be set in production (a shared random secret for every replica)")
        secret = _persistent_secret(Path(cfg["DATA_DIR"]) / "jwt_secret")
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
