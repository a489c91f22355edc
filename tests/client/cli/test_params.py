"""What the CLI checks before sending anything: uuids (a bad one is a usage error, not "no such route")."""

from __future__ import annotations

import json

import click
import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.helpers import free_port

U = "123e4567-e89b-12d3-a456-426614174000"
BAD = "not-a-uuid"

# Every command that takes a task or worker uuid, with the bad uuid where it goes.
UUID_COMMANDS = {
    "tasks get": ["tasks", "get", BAD],
    "tasks wait": ["tasks", "wait", BAD],
    "tasks cancel": ["tasks", "cancel", BAD],
    "tasks cancel-list": ["tasks", "cancel-list", U, BAD],
    "tasks update-labels": ["tasks", "update-labels", BAD, "a"],
    "tasks change": ["tasks", "change", BAD, "-p", "1"],
    "tasks query": ["tasks", "query", "--reporter-uuid", BAD],
    "tasks submit --watch": ["tasks", "submit", "--watch", f"{BAD},ExecSpawned", "true"],
    "tasks submit -r artifact": ["tasks", "submit", "-r", f"artifact={BAD}:result:in.tgz", "true"],
    "tasks artifacts upload": ["tasks", "artifacts", "upload", __file__, BAD, "result"],
    "tasks artifacts download": ["tasks", "artifacts", "download", BAD, "result"],
    "tasks artifacts delete": ["tasks", "artifacts", "delete", BAD, "result"],
    "tasks artifacts download-list": ["tasks", "artifacts", "download-list", "result", f"{U},{BAD}"],
    "tasks artifacts delete-list": ["tasks", "artifacts", "delete-list", "result", BAD],
    "workers get": ["workers", "get", BAD],
    "workers cancel": ["workers", "cancel", BAD],
    "workers cancel-list": ["workers", "cancel-list", BAD],
    "workers update-tags": ["workers", "update-tags", BAD, "t"],
    "workers update-labels": ["workers", "update-labels", BAD, "l"],
    "workers update-roles": ["workers", "update-roles", BAD, "g:read"],
    "workers remove-roles": ["workers", "remove-roles", BAD, "g"],
    "admin tasks delete-artifact": ["admin", "tasks", "delete-artifact", BAD, "result"],
    "admin workers shutdown": ["admin", "workers", "shutdown", BAD],
}


@pytest.mark.parametrize("args", UUID_COMMANDS.values(), ids=UUID_COMMANDS.keys())
def test_an_invalid_uuid_is_a_usage_error_before_any_request(mito, args):
    # The coordinator is unreachable: only a check made before any request can answer.
    result = mito(*args, coordinator=f"http://127.0.0.1:{free_port()}", ok=False)
    assert result.exit_code == 2, result.output
    assert f"invalid uuid '{BAD}'" in result.output


def _leaves(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _leaves(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def test_every_uuid_parameter_of_every_command_is_checked():
    from client.cli import cli as client_cli
    from client.cli import params

    checks = {params.one_uuid, params.uuid_list, params.optional_uuid}
    unchecked = [
        f"{path} {p.name}"
        for path, command in _leaves(client_cli)
        for p in command.params
        if p.name and "uuid" in p.name and p.callback not in checks
    ]
    assert unchecked == []


def test_a_valid_uuid_in_another_spelling_reaches_the_coordinator(mito):
    mito("login", ADMIN_USER, ADMIN_PASSWORD)
    uuid = json.loads(mito("--json", "tasks", "submit", "-t", "nowhere", "true").stdout)["uuid"]
    got = json.loads(mito("tasks", "get", uuid.upper(), "--json").output)
    assert got["info"]["uuid"] == uuid


def test_watch_names_an_exec_state(mito):
    result = mito("tasks", "submit", "--watch", f"{U},Done", "true", ok=False)
    assert result.exit_code == 2 and "unknown exec state 'Done'" in result.output
