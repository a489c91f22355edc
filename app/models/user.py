"""Users."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, IntEnumType, UTCDateTime
from app.models._columns import Timestamps
from app.models.enums import UserState

DEFAULT_GROUP_QUOTA = 8


class User(Timestamps, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(255), unique=True, nullable=False)
    encrypted_password: Mapped[str] = mapped_column(sa.Text, nullable=False)
    # The current token signature: tokens carrying another value are stale (401).
    auth_signature: Mapped[int | None] = mapped_column(sa.BigInteger)
    current_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    current_sign_in_ip: Mapped[str | None] = mapped_column(sa.String(64))
    last_sign_in_ip: Mapped[str | None] = mapped_column(sa.String(64))
    admin: Mapped[bool] = mapped_column(sa.Boolean, default=False, nullable=False)
    state: Mapped[UserState] = mapped_column(IntEnumType(UserState), default=UserState.Active, nullable=False)
    group_quota: Mapped[int] = mapped_column(sa.Integer, default=DEFAULT_GROUP_QUOTA, nullable=False)
    group_count: Mapped[int] = mapped_column(sa.Integer, default=1, nullable=False)
