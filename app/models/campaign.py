"""Campaigns: a named parameter sweep in a group, and the grid its tasks were made from."""

from __future__ import annotations

import uuid as uuid_mod
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.db import Base
from app.models._columns import Timestamps
from app.models.group import Group
from app.models.user import User


class Campaign(Timestamps, Base):
    """A sweep submitted in one request: its grid, its task template, and (on the tasks) its points.

    The grid is `parameters` (a cartesian product: [{name, values}]) times `points` (explicit rows, e.g. a
    CSV file: {names, rows: [[value per name]]}), each point run `repeat` times. Every task of the campaign
    points back here (`campaign_id`) and carries its point (`params`) and repetition (`campaign_repeat`).
    """

    __tablename__ = "campaigns"
    __table_args__ = (sa.UniqueConstraint("group_id", "name", name="uq_campaigns_group_id_name"),)

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    uuid: Mapped[uuid_mod.UUID] = mapped_column(sa.Uuid, unique=True, nullable=False, default=uuid_mod.uuid4)
    name: Mapped[str] = mapped_column(sa.String(128), nullable=False)
    group_id: Mapped[int] = mapped_column(sa.ForeignKey("groups.id"), nullable=False)
    creator_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    parameters: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, nullable=False)
    points: Mapped[dict[str, list[Any]] | None] = mapped_column(sa.JSON)
    repeat: Mapped[int] = mapped_column(sa.Integer, nullable=False)
    # The SubmitTaskReq every task was made from (without group_name), before substitution.
    template: Mapped[dict[str, Any]] = mapped_column(sa.JSON, nullable=False)
    task_count: Mapped[int] = mapped_column(sa.Integer, nullable=False)

    creator: Mapped[User] = relationship(lazy="joined", innerjoin=True)
    group: Mapped[Group] = relationship(lazy="joined", innerjoin=True)

    @property
    def creator_username(self) -> str:
        """The submitter's username."""
        return self.creator.username

    @property
    def group_name(self) -> str:
        """The campaign's group."""
        return self.group.group_name

    @property
    def parameter_names(self) -> list[str]:
        """Every parameter of a point, in column order: the explicit rows' names, then the swept ones."""
        from_rows = list(self.points["names"]) if self.points else []
        return from_rows + [p["name"] for p in self.parameters]


sa.Index("ix_campaigns_group", Campaign.group_id, Campaign.id)  # a group's campaigns, newest first (keyset)
