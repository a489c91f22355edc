"""Users: creation (with the personal group), login, passwords, states, quotas."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from app import auth, db
from app.errors import AlreadyExists, Forbidden, InvalidRequest, NotFound, WrongCredentials
from app.models import Group, Role, User, UserGroup, UserState
from app.services import throttle

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")


def validate_name(name: str, what: str = "name") -> None:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InvalidRequest(f"Invalid {what}: must match ^[A-Za-z0-9_-]{{1,255}}$")


def name_taken(name: str) -> bool:
    """Users and groups share one name space."""
    return bool(
        db.session.scalar(sa.select(sa.literal(True)).where(sa.exists().where(User.username == name)))
        or db.session.scalar(sa.select(sa.literal(True)).where(sa.exists().where(Group.group_name == name)))
    )


@db.transactional
def create_user(*, username: str, md5_password: bytes, admin: bool = False) -> User:
    """Create a user, their personal group of the same name and their Admin role in it."""
    validate_name(username, "username")
    if name_taken(username):
        raise AlreadyExists(f"User or group with same name {username} already exists")
    user = User(
        username=username,
        encrypted_password=auth.hash_password(md5_password),
        admin=admin,
        auth_signature=auth.new_signature(),
    )
    db.session.add(user)
    db.session.flush()
    group = Group(group_name=username, creator_id=user.id)
    db.session.add(group)
    db.session.flush()
    db.session.add(UserGroup(user_id=user.id, group_id=group.id, role=Role.Admin))
    db.session.flush()
    return user


def require_user(username: str, *, for_update: bool = False) -> User:
    """The user with this name, or 404; `for_update` locks the row (db.lock_rows: FOR NO KEY UPDATE OF users).

    NO KEY: the foreign-key share locks that inserts referencing the user take (a worker's commit, a
    registration) do not wait for it, so holding it while locking a worker cannot deadlock against them.
    """
    query = sa.select(User).where(User.username == username)
    user = db.session.scalar(db.lock_rows(query, User) if for_update else query)
    if user is None:
        raise NotFound(f"User {username} not found")
    return user


def login(*, username: str, md5_password: bytes, retain: bool = False, ip: str | None = None) -> str:
    """Check the credentials, record the sign-in, return a token; a non-retain login rotates the signature.

    Failed logins are throttled per user and per address (services/throttle.py, 429). The password check
    (argon2, bounded per process: auth.verify_slot) runs outside any transaction, so no row lock (nor
    SQLite's write lock) is held across it. A Locked or Deleted account answers 403 whether the password
    is right or wrong, so a brute force learns nothing from it.
    """
    throttle.check(username=username, address=ip)
    row = db.session.execute(
        sa.select(User.encrypted_password, User.state).where(User.username == username)
    ).first()
    db.session.rollback()  # end the read before the slow check
    if row is not None and row.state != UserState.Active:
        raise Forbidden()
    encrypted = None if row is None else row.encrypted_password
    if not auth.check_password(encrypted, md5_password) or encrypted is None:
        throttle.record_failure(username=username, address=ip)
        raise WrongCredentials()
    return _record_sign_in(username=username, checked=encrypted, retain=retain, ip=ip)


@db.transactional
def _record_sign_in(*, username: str, checked: str, retain: bool, ip: str | None) -> str:
    """The second half of login: under the row lock, unless the password or state changed meanwhile."""
    user = require_user(username, for_update=True)
    if user.encrypted_password != checked:
        raise WrongCredentials()
    if user.state != UserState.Active:
        raise Forbidden()
    if not retain or user.auth_signature is None:
        user.auth_signature = auth.new_signature()
    user.last_sign_in_at, user.last_sign_in_ip = user.current_sign_in_at, user.current_sign_in_ip
    user.current_sign_in_at, user.current_sign_in_ip = datetime.now(UTC), ip
    db.session.flush()
    return auth.issue_user_token(user)


@db.transactional
def change_password(*, actor: User, username: str, old_md5_password: bytes, new_md5_password: bytes) -> str:
    """Change the caller's own password (old one checked), return a new token; older tokens stop working."""
    if username != actor.username:
        raise Forbidden("Authentication error: Permission denied: a user may only change their own password")
    if not auth.check_password(actor.encrypted_password, old_md5_password):
        raise WrongCredentials()
    return auth.issue_user_token(set_password(username, new_md5_password))


def set_password(username: str, md5_password: bytes) -> User:
    """Store a new password hash and rotate the token signature (every earlier token becomes stale). The
    hash (argon2, tens of ms) comes before the user's row is locked: the lock is held for the write only."""
    encrypted = auth.hash_password(md5_password)
    user = require_user(username, for_update=True)
    user.encrypted_password = encrypted
    user.auth_signature = auth.new_signature()
    db.session.flush()
    return user


def list_groups(*, actor: User) -> dict[str, Role]:
    """The groups the caller belongs to, with the caller's role in each."""
    rows = db.session.execute(
        sa.select(Group.group_name, UserGroup.role)
        .join(UserGroup, UserGroup.group_id == Group.id)
        .where(UserGroup.user_id == actor.id)
    )
    return {name: role for name, role in rows}


def ensure_admin(username: str, password: str) -> None:
    """Create the bootstrap admin once; later changes of the configured name or password have no effect."""
    try:
        if db.session.scalar(sa.select(User.id).where(User.username == username)) is not None:
            return
        create_user(username=username, md5_password=auth.md5_bytes(password), admin=True)
        log.info("created the bootstrap admin %s", username)
    except (OperationalError, ProgrammingError):
        db.session.rollback()  # tables not migrated yet: `mito coordinator` runs this again after migrating
    except (IntegrityError, AlreadyExists):
        db.session.rollback()  # another process created it first
    finally:
        db.session.remove()


def has_password(username: str, password: str) -> bool | None:
    """Whether the user's password is `password`; None if there is no such user (or no tables yet)."""
    try:
        encrypted = db.session.scalar(sa.select(User.encrypted_password).where(User.username == username))
    except (OperationalError, ProgrammingError) as exc:
        db.session.rollback()
        if isinstance(exc, OperationalError) and "no such table" not in str(exc):
            raise  # the database is unreachable: say so rather than guess
        return None
    finally:
        db.session.remove()
    return None if encrypted is None else auth.verify_password(encrypted, auth.md5_bytes(password))


def describe_self(*, actor: User) -> User:
    """The caller's own account (what the dashboard shows and offers)."""
    return actor


@dataclass(frozen=True)
class UserPage:
    """One page of users and how many there are in all."""

    count: int
    users: list[User]


def list_users(*, actor: User, limit: int, offset: int) -> UserPage:
    """Every user, by name (site admins only): one page and the total count."""
    if not actor.admin:
        raise Forbidden()
    total = db.session.scalar(sa.select(sa.func.count()).select_from(User)) or 0
    page = db.session.scalars(sa.select(User).order_by(User.username).limit(limit).offset(offset)).all()
    return UserPage(count=total, users=list(page))
