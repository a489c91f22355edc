"""Passwords, tokens and the current actor.

Passwords arrive as the 16 raw bytes of MD5(password); we store an argon2id hash of those bytes.
User tokens carry kind="user", sub=username and sign=users.auth_signature; a token whose sign differs from
the stored one is stale (401). Worker tokens carry kind="worker" and sub=worker uuid.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import NoReturn

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, g
from flask_jwt_extended import create_access_token

from app import db
from app.errors import Forbidden, Throttled, Unauthorized, WorkerRemoved, WrongCredentials
from app.models import RemovedWorker, User, UserState, Worker
from app.prepared import prepared

# The 401 of a token whose signature was rotated since it was issued: say why, so a client can tell its user.
SESSION_ENDED = (
    "Authentication error: Wrong credentials: this session was ended by a newer login of the user "
    "(without retain), a password change, or an admin locked or deleted the account; log in again"
)

# argon2id with the parameters of the original (argon2 0.5 defaults: m=19456 KiB, t=2, p=1).
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


# Password checks at once in this process (MITO_LOGIN_CONCURRENCY); one that cannot start within
# SLOT_WAIT_SECONDS answers 429. A check costs tens of ms of a core and 19 MiB: unbounded, concurrent
# logins of a brute force take every core from the other users' requests.
SLOT_WAIT_SECONDS = 5.0
_slots: dict[tuple[int, int], threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


def md5_bytes(password: str) -> bytes:
    return hashlib.md5(password.encode()).digest()


def hash_password(md5_password: bytes) -> str:
    return _hasher.hash(md5_password)


def verify_password(encrypted: str, md5_password: bytes) -> bool:
    try:
        return _hasher.verify(encrypted, md5_password)
    except (VerificationError, InvalidHashError):
        return False


@contextmanager
def verify_slot() -> Iterator[None]:
    """Hold one of this process's password-check slots; Throttled (429) if none frees up in time."""
    size = max(1, int(current_app.config["LOGIN_CONCURRENCY"]))
    with _slots_lock:
        slot = _slots.setdefault((os.getpid(), size), threading.BoundedSemaphore(size))
    if not slot.acquire(timeout=SLOT_WAIT_SECONDS):
        raise Throttled("Too many logins in progress: retry later", retry_after=1)
    try:
        yield
    finally:
        slot.release()


def check_password(encrypted: str | None, md5_password: bytes) -> bool:
    """verify_password in a slot; for no user (None), as slow a check against a dummy hash, then False."""
    with verify_slot():
        return verify_password(encrypted or _dummy_hash(), md5_password) and encrypted is not None


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash(bytes(16))


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


@functools.cache
def _user_named() -> sa.Select[User]:
    """The user by name, the name bound at execution: built once, as every user request runs it (its
    compiled form is then found by a memoized cache key)."""
    return prepared(sa.select(User).where(User.username == sa.bindparam("username")))


def load_user(claims: dict) -> User:
    """The user behind verified JWT claims: 401 if wrong kind, unknown or stale; 403 if not Active.

    A lock rotates the signature, so a token from before it stays stale (401) after the unlock.
    """
    if claims.get("kind") != "user":
        raise Unauthorized()
    user = db.session.scalar(_user_named(), {"username": claims.get("sub")})
    if user is None:
        raise WrongCredentials()
    if user.state != UserState.Active:  # said before the signature: a locked user learns why (403)
        raise Forbidden()
    if str(user.auth_signature) != str(claims.get("sign")):
        raise WrongCredentials(SESSION_ENDED)  # e.g. a token from before a lock, after the unlock
    return user


@dataclass(frozen=True)
class WorkerIdentity:
    """The worker a verified token names, read from the token alone (no lookup).

    Safe where the service locks the worker row first thing in its transaction (the agent protocol's hot
    path: claim, report, batch) and checks it there with `check_worker`: a removed worker has no row.
    """

    uuid: uuid.UUID


def worker_identity(claims: dict) -> WorkerIdentity:
    """The worker named by verified JWT claims: 401 if they are not a worker token's."""
    if claims.get("kind") != "worker":
        raise Unauthorized()
    try:
        return WorkerIdentity(uuid.UUID(str(claims.get("sub"))))
    except ValueError:
        raise Unauthorized() from None


def check_worker(worker_uuid: uuid.UUID, worker: Worker | None) -> Worker:
    """The worker row a token's uuid found: 401 if it is gone (and why, if known); 403 (check_creator)."""
    if worker is None:
        worker_gone(worker_uuid)
    check_creator(worker.creator.state)  # loaded with the worker (joined): no extra query
    return worker


def worker_gone(worker_uuid: uuid.UUID) -> NoReturn:
    """401 for a token whose worker has no row: why it was removed, if known."""
    reason = db.session.scalar(sa.select(RemovedWorker.reason).where(RemovedWorker.uuid == worker_uuid))
    raise WrongCredentials() if reason is None else WorkerRemoved(worker_uuid, reason)


def check_creator(creator_state: UserState) -> None:
    """403 while the user who registered a worker is not Active: locking removes their workers, and this
    refuses one whose registration raced the lock."""
    if creator_state != UserState.Active:
        raise Forbidden()


def load_worker(claims: dict) -> Worker:
    """The worker behind verified JWT claims (looked up): 401 if wrong kind or gone, 403 (check_worker)."""
    identity = worker_identity(claims)
    return check_worker(
        identity.uuid, db.session.scalar(sa.select(Worker).where(Worker.uuid == identity.uuid))
    )


def current_user() -> User:
    return g.current_user


def current_worker() -> Worker:
    return g.current_worker


def current_worker_identity() -> WorkerIdentity:
    """The calling worker as its token names it (routes declared with worker_required(lookup=False))."""
    return WorkerIdentity(g.current_worker.uuid)
