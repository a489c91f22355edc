"""Users: creation (with the personal group), login, passwords, states, quotas."""

from __future__ import annotations

import logging
import re

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from app import auth, db
from app.errors import AlreadyExists, InvalidRequest
from app.models import Group, Role, User, UserGroup

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
