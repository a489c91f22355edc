"""Admin operations: users, quotas, states, coordinator shutdown. Routes check the admin token first."""

from __future__ import annotations

import hmac
import logging
import re

import sqlalchemy as sa

from app import auth, db
from app.errors import Forbidden, InvalidRequest
from app.models import Group, User, UserState, Worker
from app.services import access
from app.services import user as user_service
from app.services import worker as worker_service
from mito.vocab import WorkerRemoval
from mito.vocab.units import parse_size

log = logging.getLogger(__name__)

INT32_MAX = 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
LAST_ADMIN = (
    "Authentication error: Permission denied: the last active admin cannot be locked or deleted "
    "(make another user admin first)"
)
_QUOTA_OP = re.compile(r"^\s*([+=-]?)\s*(.+?)\s*$")


@db.transactional
def create_user(*, username: str, md5_password: bytes, admin: bool) -> User:
    """Create a user (with the personal group)."""
    return user_service.create_user(username=username, md5_password=md5_password, admin=admin)


@db.transactional
def change_user_state(*, username: str, state: UserState) -> User:
    """Set a user's state; Locked and Deleted users are refused (403) on login and on every request.

    Locking or deleting also ends the user's sessions (the token signature is rotated, so unlocking later
    revives no old token) and removes the workers they registered (their tasks go back to the queue, their
    agents are told at once and exit 0, their tokens answer 401 `removed`).

    The last active site admin cannot be locked or deleted (403): nothing could restore it. The active
    admins' rows are locked first (by id), so two admins locking each other at once cannot both succeed.
    """
    if state != UserState.Active:
        admins = _lock_active_admins()
        if [admin.username for admin in admins] == [username]:
            raise Forbidden(LAST_ADMIN)
    user = user_service.require_user(username, for_update=True)
    user.state = state
    if state != UserState.Active:
        user.auth_signature = auth.new_signature()
    db.session.flush()
    if state != UserState.Active:
        reason = WorkerRemoval.OwnerLocked if state == UserState.Locked else WorkerRemoval.OwnerDeleted
        workers = db.session.scalars(
            sa.select(Worker).where(Worker.creator_id == user.id).order_by(Worker.id)
        )
        for worker in list(workers):
            worker_service.remove_worker(worker=worker, reason=reason)
    return user


def _lock_active_admins() -> list[User]:
    """The active site admins, their rows locked in id order (the one order every caller uses)."""
    query = sa.select(User).where(User.admin.is_(True), User.state == UserState.Active).order_by(User.id)
    return list(db.session.scalars(db.lock_rows(query, User)))


def delete_user(*, username: str) -> User:
    """Mark a user Deleted; the name stays taken and nothing else is removed."""
    return change_user_state(username=username, state=UserState.Deleted)


@db.transactional
def change_user_password(*, username: str, md5_password: bytes) -> None:
    """Set any user's password; that user's earlier tokens stop working."""
    user_service.set_password(username, md5_password)


def _apply(op: str, amount: int, current: int) -> int:
    return {"+": current + amount, "-": current - amount}.get(op, amount)


def _split_op(text: str) -> tuple[str, str]:
    match = _QUOTA_OP.match(text)
    if not match:
        raise InvalidRequest(f"Invalid quota change {text!r}: expected +N, -N, =N or N")
    return match.group(1), match.group(2)


@db.transactional
def change_user_group_quota(*, username: str, change: str) -> User:
    """Apply `+N`, `-N`, `=N` or `N` to a user's group quota (clamped at 0)."""
    op, number = _split_op(change)
    if not re.fullmatch(r"\d+", number) or int(number) > INT32_MAX:
        raise InvalidRequest(
            f"Invalid group quota change {change!r}: expected +N, -N, =N or N with 0 <= N < 2^31"
        )
    user = user_service.require_user(username, for_update=True)
    user.group_quota = min(max(_apply(op, int(number), user.group_quota), 0), INT32_MAX)
    db.session.flush()
    return user


@db.transactional
def change_group_storage_quota(*, group_name: str, change: str) -> Group:
    """Apply `+SIZE`, `-SIZE`, `=SIZE` or `SIZE` (2GB decimal, 1GiB binary) to a group's storage quota."""
    op, size_text = _split_op(change)
    try:
        size = parse_size(size_text)
    except ValueError as exc:
        raise InvalidRequest(f"Invalid storage quota change {change!r}: {exc}") from None
    if size > INT64_MAX:
        raise InvalidRequest(f"Invalid storage quota change {change!r}: too large")
    group = access.require_group(group_name, for_update=True)
    group.storage_quota = min(max(_apply(op, size, group.storage_quota), INT64_MIN), INT64_MAX)
    db.session.flush()
    return group


def check_shutdown_secret(*, secret: str, expected: str) -> None:
    """403 unless `secret` matches the coordinator's shutdown secret."""
    if not hmac.compare_digest(secret.encode(), str(expected).encode()):
        raise Forbidden("Authentication error: Permission denied: wrong shutdown secret")
    log.warning("coordinator shutdown requested by an admin")
