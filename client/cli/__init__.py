"""The `mito` client CLI: login, then users / groups (+ attachments) / tasks (+ artifacts) / workers / admin.

One module per command group; this one holds the root group and the verbs that sit directly under it.
Global options come before the group (`mito --coordinator URL --user U --json tasks query`); `--json`
is also accepted after any verb. Shell completion: `eval "$(_MITO_COMPLETE=bash_source mito)"`.
"""

from __future__ import annotations

import getpass
import sys

import click

from client import credentials
from client.cli import admin, artifacts, attachments, campaigns, groups, tasks, users, workers
from client.cli.session import Session, verb
from client.options import global_options
from client.sdk import Mitosis

__all__ = ["cli"]


@click.group("client")
@global_options
def cli() -> None:
    """The Mitosis client."""


@verb(cli, "login")
@click.argument("username", required=False)
@click.argument("password", required=False)
@click.option("--retain", is_flag=True, help="Keep the user's other sessions valid.")
def login(session: Session, username: str | None, password: str | None, retain: bool) -> None:
    """Log in and cache the token (prompts for what is missing)."""
    username = username or session.user or click.prompt("Username")
    if password is None:
        password = (
            getpass.getpass("Password: ") if sys.stdin.isatty() else click.prompt("Password", hide_input=True)
        )
    with Mitosis(session.coordinator) as sdk:
        token = sdk.login(username, password, retain=retain)
    path = credentials.save(credentials.Credential(username, token, session.coordinator))
    session.done(
        f"Logged in as {username} at {session.coordinator} (token cached in {path})", {"username": username}
    )


@verb(cli, "logout")
@click.argument("username", required=False)
def logout(session: Session, username: str | None) -> None:
    """Forget a cached login (default: the current user)."""
    name = username or session.username
    removed = credentials.remove(name)
    session.done(f"Forgot {name}" if removed else f"{name} was not logged in", {"removed": removed})


@verb(cli, "whoami")
def whoami(session: Session) -> None:
    """Check the cached token with the coordinator and print the user name."""
    name = session.api().auth()
    session.out({"username": name, "coordinator": session.coordinator}, lambda d: click.echo(d["username"]))


@verb(cli, "health")
def health(session: Session) -> None:
    """Ask the coordinator whether it is up."""
    session.out(session.sdk.health(), lambda d: click.echo(d.get("status")))


@verb(cli, "redis")
def redis_info(session: Session) -> None:
    """Print the Redis URL the coordinator hands to clients (empty without Redis)."""
    session.out(session.api().redis_info(), lambda d: click.echo(d.get("url") or ""))


cli.add_command(users.users)
groups.groups.add_command(attachments.attachments)
cli.add_command(groups.groups)
tasks.tasks.add_command(artifacts.artifacts)
cli.add_command(tasks.tasks)
cli.add_command(campaigns.campaigns)
cli.add_command(workers.workers)
cli.add_command(admin.admin)
