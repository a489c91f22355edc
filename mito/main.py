"""The `mito` command: coordinator, worker and standalone programs, plus the client CLI.

Each program is loaded lazily so that the agent and the client never import the coordinator.
"""

from __future__ import annotations

import importlib

import click

from client.options import global_options

# name -> "module:attribute" of a click command
PROGRAMS = {
    "coordinator": "app.cli:coordinator",
    "db": "app.cli:db_group",
    "worker": "worker_agent.cli:worker",
    "standalone": "app.standalone:standalone",
}


class MitoGroup(click.Group):
    def _client_group(self) -> click.Group | None:
        try:
            return importlib.import_module("client.cli").cli
        except ModuleNotFoundError:
            return None

    def list_commands(self, ctx):
        names = set(PROGRAMS)
        client = self._client_group()
        if client is not None:
            names |= set(client.list_commands(ctx))
        return sorted(names)

    def get_command(self, ctx, name):
        if name in PROGRAMS:
            module, attr = PROGRAMS[name].split(":")
            try:
                return getattr(importlib.import_module(module), attr)
            except (ModuleNotFoundError, AttributeError):
                return None
        client = self._client_group()
        return client.get_command(ctx, name) if client is not None else None


@click.group(cls=MitoGroup)
@global_options
def cli() -> None:
    """Mitosis: run command-line tasks on many machines.

    Client commands take global options first: mito [--coordinator URL] [--user U] [--json] GROUP VERB.
    Shell completion: eval "$(_MITO_COMPLETE=bash_source mito)" (zsh_source, fish_source).
    """


def main() -> None:
    cli(prog_name="mito")
