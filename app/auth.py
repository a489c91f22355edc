"""Passwords, tokens and the current actor.

Passwords arrive as the 16 raw bytes of MD5(password); we store an argon2id hash of those bytes.
User tokens carry kind="user", sub=username and sign=users.auth_signature; a token whose sign differs from
the stored one is stale (401). Worker tokens carry kind="worker" and sub=worker uuid.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g
from flask_jwt_extended import create_access_token

from app import db
from app.errors import Forbidden, Unauthorized, WrongCredentials
from app.models import User, UserState, Worker

# argon2id with the parameters of the original (argon2 0.5 defaults: m=19456 KiB, t=2, p=1).
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


def md5_bytes(password: str) -> bytes:
    return hashlib.md5(password.encode()).digest()


def hash_password(md5_password: bytes) -> str:
    return _hasher.hash(md5_password)


def verify_password(encrypted: str, md5_password: bytes) -> bool:
    try:
        return _hasher.verify(encrypted, md5_password)
    except (VerificationError, InvalidHashError):
        return False


def new_signature() -> int:
    return secrets.randbits(63)


def issue_user_token(user: User) -> str:
    expires = timedelta(seconds=current_app.config["ACCESS_TOKEN_EXPIRES_SECONDS"])
    return create_access_token(
        identity=user.username,
        additional_claims={"kind": "user", "sign": str(user.auth_signature)},
        expires_delta=expires,
    )


def issue_worker_token(worker: Worker, lifetime_seconds: int) -> str:
    return create_access_token(
        identity=str(worker.uuid),
        additional_claims={"kind": "worker"},
        expires_delta=timedelta(seconds=lifetime_seconds),
    )


@dataclass(frozen=True)
class Actor:
    """Who is calling: a user (possibly admin)."""

    user: User

    @property
    def is_admin(self) -> bool:
        return self.user.admin


def load_user(claims: dict) -> User:
    """The user behind verified JWT claims: 401 if wrong kind, unknown or stale; 403 if not Active."""
    if claims.get("kind") != "user":
        raise Unauthorized()
    user = db.session.scalar(sa.select(User).where(User.username == claims.get("sub")))
    if user is None or str(user.auth_signature) != str(claims.get("sign")):
        raise WrongCredentials()
    if user.state != UserState.Active:
        raise Forbidden()
    return user


def load_worker(claims: dict) -> Worker:
    """The worker behind verified JWT claims: 401 if wrong kind or the worker no longer exists."""
    if claims.get("kind") != "worker":
        raise Unauthorized()
    try:
        worker_uuid = uuid.UUID(str(claims.get("sub")))
    except ValueError:
        raise Unauthorized() from None
    worker = db.session.scalar(sa.select(Worker).where(Worker.uuid == worker_uuid))
    if worker is None:
        raise WrongCredentials()
    return worker


def current_user() -> User:
    return g.current_user


def current_worker() -> Worker:
    return g.current_worker
