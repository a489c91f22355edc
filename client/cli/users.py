"""`mito users`: your own account."""

from __future__ import annotations

import click

from client import credentials
from client.cli.output import table
from client.cli.session import Session, verb


@click.group("users")
def users() -> None:
    """Your account."""


@verb(users, "change-password")
@click.argument("old_password", required=False)
@click.argument("new_password", required=False)
def users_change_password(session: Session, old_password: str | None, new_password: str | None) -> None:
    """Change your password (prompts for what is missing); the cached token is refreshed."""
    old = old_password or click.prompt("Current password", hide_input=True)
    new = new_password or click.prompt("New password", hide_input=True, confirmation_prompt=True)
    token = session.api().change_password(session.username, old, new)
    credentials.save(credentials.Credential(session.username, token, session.coordinator))
    session.done("Password changed")


@verb(users, "groups")
def users_groups(session: Session) -> None:
    """The groups you belong to and your role in each."""
    session.out(session.api().user_groups(), lambda d: table(None, ["group", "role"], sorted(d.items())))
