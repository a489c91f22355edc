"""The `mito` command: the coordinator, worker and standalone programs, plus the client CLI's groups.

Each program is imported when its command is asked for, inside the function that names it: starting the
client or an agent never imports the coordinator (Flask, SQLAlchemy), and `mito tasks ...` stays quick.
These are plain imports (no import cycle is hidden by them: nothing the programs import imports this
launcher), so a renamed program fails the import graph check and the `--help` test, not a user.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from client.cli import cli as client_cli
from client.options import global_options


def _coordinator() -> click.Command:
    from app.cli import coordinator

    return coordinator


def _db() -> click.Command:
    from app.cli import db_group

    return db_group


def _worker() -> click.Command:
    from worker_agent.cli import worker

    return worker


def _standalone() -> click.Command:
    from app.standalone import standalone

    return standalone


PROGRAMS: dict[str, Callable[[], click.Command]] = {
    "coordinator": _coordinator,
    "db": _db,
    "worker": _worker,
    "standalone": _standalone,
}


class MitoGroup(click.Group):
    """The programs (loaded on demand) next to the client's command groups."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Every program and client group, sorted."""
        return sorted(set(PROGRAMS) | set(client_cli.list_commands(ctx)))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """A program's command (importing it now), else the client's group of that name."""
        if cmd_name in PROGRAMS:
            return PROGRAMS[cmd_name]()
        return client_cli.get_command(ctx, cmd_name)


@click.group(cls=MitoGroup)
@global_options
def cli() -> None:
    """Mitosis: run command-line tasks on many machines.

    Client commands take global options first: mito [--coordinator URL] [--user U] [--json] GROUP VERB.
    Shell completion: eval "$(_MITO_COMPLETE=bash_source mito)" (zsh_source, fish_source).
    """


def main() -> None:
    """The `mito` console script."""
    cli(prog_name="mito")
