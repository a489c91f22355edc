"""`mito standalone --groups`: the groups the local agents serve besides the admin's personal group.

Registration would need the admin to hold Write in each group; a worker's Admin group may instead grant
any group a role on it (`mito workers update-roles`). So the agents register for the admin's personal
group only, carrying the LABEL, and the standalone grants the `--groups` roles to each new one the same way,
at every start: the option is the one place the grants live, and they survive restarts.
"""

from __future__ import annotations

import uuid
from contextlib import suppress

import click
import sqlalchemy as sa
from flask import Flask

from mito.vocab.roles import Role

LABEL = "mito-standalone"


def parse_groups(text: str | None) -> dict[str, Role]:
    """`lab,ml:admin` -> {"lab": Write, "ml": Admin}; a bad item is a usage error."""
    relations: dict[str, Role] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        name, sep, role = item.partition(":")
        try:
            relations[name] = Role.parse(role) if sep else Role.Write
        except ValueError as exc:
            raise click.BadParameter(f"{item}: {exc}", param_hint="--groups") from exc
        if not name:
            raise click.BadParameter(f"{item}: expected GROUP or GROUP:ROLE", param_hint="--groups")
    return relations


class Grants:
    """Grants `relations` on every local agent's worker that has not had them yet from this process."""

    def __init__(self, app: Flask, admin: str, relations: dict[str, Role]):
        self.app = app
        self.admin = admin
        self.relations = relations
        self.granted: set[uuid.UUID] = set()

    def sweep(self) -> str | None:
        """Grant the roles to the local agents registered since the last sweep; None, or why it cannot."""
        if not self.relations:
            return None
        from app import db
        from app.errors import DomainError, NotFound
        from app.models import User, Worker
        from app.services import user as user_service
        from app.services import worker as worker_service

        with self.app.app_context():
            try:
                actor = user_service.require_user(self.admin)
                uuids = db.session.scalars(
                    sa.select(Worker.uuid)
                    .join(User, Worker.creator_id == User.id)
                    .where(User.username == self.admin, db.contains_all(Worker.labels, [LABEL]))
                ).all()
                fresh = [u for u in uuids if u not in self.granted]
                for worker_uuid in fresh:
                    with suppress(NotFound):  # gone meanwhile (unregistered, reaped): nothing to grant
                        worker_service.update_worker_groups(
                            actor=actor, worker_uuid=worker_uuid, relations=dict(self.relations)
                        )
                    self.granted.add(worker_uuid)
                return None
            except DomainError as exc:  # e.g. a group that does not exist: the standalone stops, saying so
                names = ",".join(self.relations)
                return f"cannot grant --groups {names} to the local agents: {exc}"
            finally:
                db.session.remove()
