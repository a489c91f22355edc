"""`mito admin`: administration for admin users (users, quotas, any group's or task's objects, workers)."""

from __future__ import annotations

import click

from client.cli import params
from client.cli.session import Session, verb
from mito.vocab import UserState, parse_size


@click.group("admin")
def admin() -> None:
    """Administration (admin users only)."""


@admin.group("users")
def admin_users() -> None:
    """Create, delete, lock users; passwords and group quotas."""


@verb(admin_users, "create")
@click.argument("username", required=False)
@click.argument("password", required=False)
@click.option("--admin", "is_admin", is_flag=True, help="Make the user an admin.")
def admin_users_create(session: Session, username: str | None, password: str | None, is_admin: bool) -> None:
    """Create a user (and their personal group)."""
    username = username or click.prompt("Username")
    password = password or click.prompt("Password", hide_input=True, confirmation_prompt=True)
    session.api().admin_create_user(username, password, admin=is_admin)
    session.done(f"Created user {username}", {"username": username, "admin": is_admin})


@verb(admin_users, "delete")
@click.argument("username")
def admin_users_delete(session: Session, username: str) -> None:
    """Delete a user."""
    session.out(session.api().admin_delete_user(username), lambda d: click.echo(f"{username}: {d['state']}"))


@verb(admin_users, "change-password")
@click.argument("username")
@click.argument("password", required=False)
def admin_users_change_password(session: Session, username: str, password: str | None) -> None:
    """Set a user's password."""
    password = password or click.prompt("New password", hide_input=True, confirmation_prompt=True)
    session.api().admin_change_password(username, password)
    session.done(f"Password of {username} changed", {"username": username})


@verb(admin_users, "group-quota")
@click.argument("username")
@click.argument("quota")
def admin_users_group_quota(session: Session, username: str, quota: str) -> None:
    """Set (10, =10) or change (+5, -3) how many groups a user may create."""
    session.out(
        session.api().admin_change_group_quota(username, quota), lambda d: click.echo(d["group_quota"])
    )


@verb(admin_users, "state")
@click.argument("username")
@click.argument("state", type=click.Choice([s.name for s in UserState], case_sensitive=False))
def admin_users_state(session: Session, username: str, state: str) -> None:
    """Set a user's state: Active, Locked or Deleted."""
    result = session.api().admin_change_user_state(username, UserState.parse(state))
    session.out(result, lambda d: click.echo(f"{username}: {d['state']}"))


@admin.group("groups")
def admin_groups() -> None:
    """Group storage quotas and attachments."""


@verb(admin_groups, "storage-quota")
@click.argument("group_name")
@click.argument("quota")
def admin_groups_storage_quota(session: Session, group_name: str, quota: str) -> None:
    """Set a group's storage quota (e.g. 10GB, 1GiB)."""
    parse_size(quota)
    result = session.api().admin_change_storage_quota(group_name, quota)
    session.out(result, lambda d: click.echo(f"{group_name}: {d['storage_quota']} bytes"))


@verb(admin_groups, "delete-attachment")
@click.argument("group_name")
@click.argument("key")
def admin_groups_delete_attachment(session: Session, group_name: str, key: str) -> None:
    """Delete any group's attachment."""
    session.api().admin_delete_attachment(group_name, key)
    session.done(f"Deleted {group_name}/{key}", {"group_name": group_name, "key": key})


@admin.group("tasks")
def admin_tasks() -> None:
    """Any task's artifacts."""


@verb(admin_tasks, "delete-artifact")
@params.UUID_ARG
@params.TYPE_ARG
def admin_tasks_delete_artifact(session: Session, uuid: str, content_type: str) -> None:
    """Delete any task's artifact."""
    session.api().admin_delete_artifact(uuid, content_type)
    session.done(f"Deleted {uuid}/{content_type}", {"uuid": uuid, "content_type": content_type})


@admin.group("workers")
def admin_workers() -> None:
    """Any worker."""


@verb(admin_workers, "shutdown")
@params.UUID_ARG
@params.FORCE
def admin_workers_shutdown(session: Session, uuid: str, force: bool) -> None:
    """Shut down any worker."""
    op = params.shutdown_op(force)
    session.api().admin_shutdown_worker(uuid, op=op)
    session.done(f"Shutting down {uuid} ({op.name})", {"uuid": uuid, "op": op.name})


@verb(admin, "shutdown")
@click.argument("secret")
def admin_shutdown(session: Session, secret: str) -> None:
    """Shut the coordinator down (needs its shutdown secret)."""
    session.api().admin_shutdown_coordinator(secret)
    session.done("Coordinator shutting down")
