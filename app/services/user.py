"""Users: creation (with the personal group), login, passwords, states, quotas."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from app import auth, db
from app.errors import AlreadyExists, Forbidden, InvalidRequest, NotFound, WrongCredentials
from app.models import Group, Role, User, UserGroup, UserState

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
    """The user with this name, or 404."""
    query = sa.select(User).where(User.username == username)
    user = db.session.scalar(query.with_for_update() if for_update else query)
    if user is None:
        raise NotFound(f"User {username} not found")
    return user


@db.transactional
def login(*, username: str, md5_password: bytes, retain: bool = False, ip: str | None = None) -> str:
    """Check the credentials, record the sign-in, return a token; a non-retain login rotates the signature."""
    user = db.session.scalar(sa.select(User).where(User.username == username).with_for_update())
    if user is None or not auth.verify_password(user.encrypted_password, md5_password):
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
    user = require_user(username, for_update=True)
    if not auth.verify_password(user.encrypted_password, old_md5_password):
        raise WrongCredentials()
    set_password(user, new_md5_password)
    return auth.issue_user_token(user)


def set_password(user: User, md5_password: bytes) -> None:
    """Store a new password hash and rotate the token signature (every earlier token becomes stale)."""
    user.encrypted_password = auth.hash_password(md5_password)
    user.auth_signature = auth.new_signature()
    db.session.flush()


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
