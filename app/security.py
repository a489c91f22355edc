"""JWT configuration and error loaders (every JWT failure goes through the one error renderer)."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import flask_jwt_extended
from flask import Flask, current_app
from flask_jwt_extended.config import config as jwt_config

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


class JWTManager(flask_jwt_extended.JWTManager):
    """flask-jwt-extended's, remembering the claims of the tokens it verified (per app, in this process).

    A request's token used to be parsed four times (claims and header unverified, to pick the key, then
    verified) with PyJWT checking each base64 character in Python: ~5 % of a chained commit's CPU. A verified
    token's claims are a pure function of the token and the app's key, so a token seen before is answered
    from a small bounded map while it has not expired (PyJWT's rule: `int(exp) <= now - leeway` is
    expired); everything else (first sight, expiry, a bad or forged token, a CSRF value) takes the library's
    own path, so `get_jwt()`, the token checks around it and every 401 body are the library's. What the map
    holds is nothing another process needs: a token is valid on every replica by its signature alone, and
    users' tokens are still checked against the stored signature on each request (`auth.load_user`).
    Valid for the default decode key (no `decode_key_loader`), and with `iat`/`nbf` checked once: they only
    become more valid with time.
    """

    # ~7 MB at most per process (4,096 worker tokens, their keys and kept claims: 6.5 MB by tracemalloc);
    # a full map is emptied (the next requests verify again)
    MAX_TOKENS = 4096

    def init_app(self, app: Flask, add_context_processor: bool = False) -> None:
        super().init_app(app, add_context_processor)
        app.extensions["mito_verified_tokens"] = VerifiedTokens(self.MAX_TOKENS)

    def _decode_jwt_from_config(
        self, encoded_token: str, csrf_value: str | None = None, allow_expired: bool = False
    ) -> dict:
        tokens: VerifiedTokens | None = current_app.extensions.get("mito_verified_tokens")
        if tokens is None or csrf_value is not None or allow_expired:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        key = (encoded_token, jwt_config.decode_key)
        claims = tokens.get(key)
        if claims is None:
            claims = super()._decode_jwt_from_config(encoded_token)
            tokens.put(key, claims, _leeway_seconds())
        return dict(claims)  # the caller's own copy (flask-jwt-extended keeps it in `g`)


def _leeway_seconds() -> float:
    leeway = jwt_config.leeway
    return leeway.total_seconds() if isinstance(leeway, timedelta) else float(leeway)


class VerifiedTokens:
    """(token, key) -> the claims PyJWT verified, each kept until its `exp` (+ leeway) passes; bounded."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._claims: dict[tuple[str, Any], tuple[float, dict]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[str, Any]) -> dict | None:
        """The claims of a verified token not yet expired by PyJWT's rule; None if unknown or expired."""
        entry = self._claims.get(key)
        if entry is None:
            return None
        if time.time() < entry[0]:
            return entry[1]
        self._claims.pop(key, None)
        return None

    def put(self, key: tuple[str, Any], claims: dict, leeway: float) -> None:
        """Remember verified claims; a token without a numeric `exp` is not kept (verified each time)."""
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            return
        with self._lock:
            if len(self._claims) >= self._size:
                self._claims.clear()
            self._claims[key] = (int(exp) + leeway, dict(claims))

    def __len__(self) -> int:
        return len(self._claims)


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
