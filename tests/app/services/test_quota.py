"""Quota accounting called directly: declared sizes, booking within the quota, refunds."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app import auth, db
from app.errors import InvalidRequest, QuotaExceeded
from app.models import Group, GroupState
from app.services import quota
from app.services import user as user_service
from app.storage import MAX_CONTENT_LENGTH


@pytest.fixture
def group(app_ctx) -> Group:
    user_service.create_user(username="lab", md5_password=auth.md5_bytes("pw"))
    found = db.session.scalar(sa.select(Group).where(Group.group_name == "lab"))
    found.storage_quota = 100
    db.session.commit()
    return found


def _used(group: Group) -> int:
    db.session.commit()
    return db.session.scalar(sa.select(Group.storage_used).where(Group.id == group.id))


@pytest.mark.parametrize("value", [0, 1, MAX_CONTENT_LENGTH])
def test_check_content_length_accepts_sizes_up_to_5_tb(value):
    assert quota.check_content_length(value) == value


@pytest.mark.parametrize("value", [-1, MAX_CONTENT_LENGTH + 1, True, 1.5, "10", None])
def test_check_content_length_refuses_anything_else_400(value):
    with pytest.raises(InvalidRequest, match="Invalid content_length"):
        quota.check_content_length(value)


def test_book_charges_new_objects_and_overwrites_exactly(group):
    quota.book(group_id=group.id, old_size=None, new_size=60)
    assert _used(group) == 60
    quota.book(group_id=group.id, old_size=60, new_size=10)  # a smaller overwrite lowers the usage
    assert _used(group) == 10


def test_book_refuses_past_the_quota_and_changes_nothing(group):
    book = db.transactional(quota.book)
    book(group_id=group.id, old_size=None, new_size=90)
    with pytest.raises(QuotaExceeded, match="uses 90 of 100 bytes and this upload needs 11 more"):
        book(group_id=group.id, old_size=None, new_size=11)
    assert _used(group) == 90


def test_book_refuses_inactive_groups_400(group):
    group.state = GroupState.Locked
    db.session.commit()
    with pytest.raises(InvalidRequest, match="is not active"):
        quota.book(group_id=group.id, old_size=None, new_size=1)


def test_refund_lowers_usage_never_below_zero(group):
    quota.book(group_id=group.id, old_size=None, new_size=30)
    quota.refund({group.id: 20})
    assert _used(group) == 10
    quota.refund({group.id: 50})
    assert _used(group) == 0
