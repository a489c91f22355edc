"""The global options of the client CLI, shared by `mito` (mito/main.py) and `client.cli:cli`.

Kept tiny (click only) so the `mito` entry point can apply them without importing the SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Store a global option's value in ctx.obj, where every command's Session finds it."""
    obj = ctx.ensure_object(dict)
    if value is not None and value is not False:
        obj[param.name] = value
    return value


def global_options(func: F) -> F:
    """`--coordinator URL` (env MITO_COORDINATOR_ADDR), `--user U`, `--json`; stored in ctx.obj."""
    options = [
        click.option(
            "--coordinator",
            envvar="MITO_COORDINATOR_ADDR",
            expose_value=False,
            callback=_remember,
            help="Coordinator URL (env MITO_COORDINATOR_ADDR; default: the one you logged in to, "
            "else http://127.0.0.1:5000).",
        ),
        click.option(
            "--user",
            "-u",
            expose_value=False,
            callback=_remember,
            help="Act as this cached user (see `mito login`).",
        ),
        click.option(
            "--json",
            "json",
            is_flag=True,
            expose_value=False,
            callback=_remember,
            help="Machine-readable JSON output.",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func
