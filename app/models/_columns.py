"""Column helpers shared by the model modules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, QueryableAttribute, mapped_column

from app.db import UTCDateTime, utcnow


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False
    )


def gin_index(name: str, column: str | QueryableAttribute[Any]) -> sa.Index:
    """A GIN index on PostgreSQL (array containment); a plain index on SQLite, where it is harmless."""
    return sa.Index(name, column, postgresql_using="gin")
