"""Groups and the user -> group roles."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base, IntEnumType
from app.models._columns import Timestamps
from app.models.enums import GroupState, Role
from app.models.user import User

DEFAULT_STORAGE_QUOTA = 16_000_000_000  # 16 GB, decimal


def _id_type():
    return sa.BigInteger().with_variant(sa.Integer, "sqlite")


class Group(Timestamps, Base):
    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(_id_type(), primary_key=True)
    group_name: Mapped[str] = mapped_column(sa.String(255), unique=True, nullable=False)
    creator_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False, index=True)
    state: Mapped[GroupState] = mapped_column(
        IntEnumType(GroupState), default=GroupState.Active, nullable=False
    )
    # Tasks ever submitted; also the per-group task_id sequence.
    task_count: Mapped[int] = mapped_column(sa.BigInteger, default=0, nullable=False)
    storage_quota: Mapped[int] = mapped_column(sa.BigInteger, default=DEFAULT_STORAGE_QUOTA, nullable=False)
    storage_used: Mapped[int] = mapped_column(sa.BigInteger, default=0, nullable=False)

    creator: Mapped[User] = relationship(lazy="joined", innerjoin=True)


class UserGroup(Base):
    __tablename__ = "user_group"
    __table_args__ = (sa.UniqueConstraint("user_id", "group_id", name="uq_user_group_user_id_group_id"),)

    id: Mapped[int] = mapped_column(_id_type(), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    group_id: Mapped[int] = mapped_column(
        sa.ForeignKey("groups.id", ondelete="CASCADE"), nullable=False, index=True
    )
    role: Mapped[Role] = mapped_column(IntEnumType(Role), nullable=False)
