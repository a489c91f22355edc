"""Retry policies and attempts in the CLI: `tasks submit --retries N --retry-on ...`, the attempts table of
`tasks get`. The policy's words are mito.vocab.retries'; a bad value is a usage error before any request.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import click

from client.bodies import Json, retry_policy
from client.cli import params
from client.cli.output import table
from mito.vocab.retries import MAX_RETRIES, parse_retry_on

# --retry-on exit:1,2,timeout: a comma starts a new kind only when a letter follows it.
_NEXT_KIND = re.compile(r",\s*(?=[A-Za-z])")


def _retry_on(_ctx: click.Context, _param: click.Parameter, values: Iterable[str] | None) -> list[str] | None:
    entries = [part for value in values or () for part in _NEXT_KIND.split(value) if part.strip()]
    if not entries:
        return None
    try:
        return parse_retry_on(entries)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


RETRY_OPTIONS = [
    click.option(
        "--retries", type=click.IntRange(0, MAX_RETRIES), metavar="N",
        help="Retry a failed task up to N times (attempts = N + 1), as --retry-on says.",
    ),
    click.option(
        "--retry-on", "retry_on", multiple=True, callback=_retry_on, metavar="KIND",
        help="Failures to retry: exit (any non-zero code) or exit:1,2; signal or signal:9; timeout; lost "
             "(losses then count against --retries). Repeatable. Default: all of them.",
    ),
    click.option(
        "--retry-delay", callback=params.checked(params.duration), metavar="DURATION",
        help="Wait before each retry (humantime, e.g. 30s; at most 1 day).",
    ),
    click.option(
        "--retry-backoff", type=click.Choice(["fixed", "exp", "exponential"]),
        help="exp: double the delay at each retry (default fixed).",
    ),
]  # fmt: skip


def policy(
    retries: int | None, retry_on: list[str] | None, retry_delay: str | None, retry_backoff: str | None
) -> Json | None:
    """The `retry` body of the options, None without --retries (the others need it: usage error)."""
    if retries is None:
        if retry_on or retry_delay or retry_backoff:
            raise click.UsageError("--retry-on, --retry-delay and --retry-backoff need --retries N")
        return None
    backoff = "exponential" if retry_backoff == "exp" else retry_backoff
    return retry_policy(retries, retry_on, retry_delay, backoff)


def _exit(attempt: Json) -> str:
    if attempt.get("signal"):
        return f"signal {attempt['signal']}"
    return "" if attempt.get("exit_status") is None else str(attempt["exit_status"])


def render_attempts(attempts: list[Json]) -> None:
    """The attempts of `tasks get`, oldest first."""
    rows: list[Iterable[Any]] = [
        (
            a["number"], a.get("worker_uuid") or "", a["started_at"], a.get("ended_at") or "running",
            a.get("end") or "", _exit(a), a.get("msg") or "", a.get("retry_at") or "",
        )
        for a in attempts
    ]  # fmt: skip
    table("attempts", ["#", "worker", "started", "ended", "end", "exit", "msg", "next at"], rows)
