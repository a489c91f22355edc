"""`mito groups`: groups and their members (attachments are in attachments.py)."""

from __future__ import annotations

import click

from client.bodies import Json
from client.cli import params
from client.cli.output import table
from client.cli.session import Session, verb


@click.group("groups")
def groups() -> None:
    """Groups, their members and their attachments."""


@verb(groups, "create")
@click.argument("group_name")
def groups_create(session: Session, group_name: str) -> None:
    """Create a group (you become its admin)."""
    session.api().create_group(group_name)
    session.done(f"Created group {group_name}", {"group_name": group_name})


def _render_group(g: Json) -> None:
    rows = [(k, v) for k, v in g.items() if k != "users_in_group"]
    rows.append(("users", ", ".join(f"{u}:{r}" for u, r in sorted((g.get("users_in_group") or {}).items()))))
    table(g.get("group_name"), ["field", "value"], rows)


@verb(groups, "get")
@click.argument("group_name")
def groups_get(session: Session, group_name: str) -> None:
    """Show a group: quota, usage, members."""
    session.out(session.api().get_group(group_name), _render_group)


@verb(groups, "update-user")
@click.argument("group_name")
@click.argument("relations", nargs=-1, required=True)
def groups_update_user(session: Session, group_name: str, relations: tuple[str, ...]) -> None:
    """Add users or change their roles: USER:read|write|admin ..."""
    rel = params.relations(relations, "USER")
    session.api().update_group_users(group_name, rel)
    session.done(f"Updated {len(rel)} member(s) of {group_name}", {"relations": rel})


@verb(groups, "remove-user")
@click.argument("group_name")
@click.argument("usernames", nargs=-1, required=True)
def groups_remove_user(session: Session, group_name: str, usernames: tuple[str, ...]) -> None:
    """Remove users from a group."""
    names = params.split(usernames)
    session.api().remove_group_users(group_name, names)
    session.done(f"Removed {', '.join(names)} from {group_name}", {"users": names})
