"""Retry policies and attempts: the words the coordinator, the CLI and the SDK share (issue #14 item 2).

A policy is an extension field of SubmitTaskReq, `retry`:

    {"retries": 3, "on": ["exit:1,2", "signal:9", "timeout", "lost"], "delay": 30, "backoff": "fixed"}

`retries` is how many more attempts a task may get (attempts = retries + 1). `on` lists the failures worth
another attempt: `exit` (any non-zero exit code) or `exit:1,2`, `signal` (any) or `signal:9`, `timeout`
(the run time limit), `lost` (its worker was lost: then every loss counts against `retries` instead of
MITO_MAX_TASK_LOSSES). Without `on`, every one of them. `delay` (seconds) waits before the next attempt,
doubled per retry with `backoff: exponential` (capped at MAX_RETRY_DELAY).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any, Final

MAX_RETRIES: Final = 100
MAX_RETRY_DELAY: Final = 86_400  # seconds: a day
RETRY_KINDS: Final = ("exit", "signal", "timeout", "lost")
DEFAULT_RETRY_ON: Final = list(RETRY_KINDS)
_MAX_CODE = {"exit": 255, "signal": 64}


class Backoff(enum.StrEnum):
    fixed = "fixed"
    exponential = "exponential"


class AttemptEnd(enum.StrEnum):
    """Why an attempt ended: its process exited (any code, or a signal), it ran out of time, its worker was
    lost, it was cancelled by its user, or it failed around the command (a resource, an upload)."""

    exit = "exit"
    timeout = "timeout"
    lost = "lost"
    cancelled = "cancelled"
    error = "error"


def parse_retry_on(values: Iterable[str]) -> list[str]:
    """The canonical `on` list of a policy (sorted, codes merged); ValueError names a bad entry.

    Each value is `exit`, `exit:CODES`, `signal`, `signal:NUMBERS`, `timeout` or `lost`; CODES is a comma
    list (`exit:1,2`). `exit` alone swallows any `exit:N`, likewise for signals.
    """
    whole: set[str] = set()
    codes: dict[str, set[int]] = {"exit": set(), "signal": set()}
    for value in values:
        if not isinstance(value, str):
            raise ValueError(f"retry-on entries are strings, not {value!r}")
        kind, colon, rest = value.strip().partition(":")
        kind = kind.strip().lower()
        if kind not in RETRY_KINDS:
            raise ValueError(f"unknown retry-on kind {value!r}: use exit[:N,...], signal[:N], timeout, lost")
        if not colon:
            whole.add(kind)
            continue
        if kind not in codes:
            raise ValueError(f"retry-on {kind} takes no codes: {value!r}")
        for part in rest.split(","):
            number = _code(kind, part, value)
            codes[kind].add(number)
    out = sorted(whole)
    for kind, numbers in codes.items():
        if numbers and kind not in whole:
            out.append(f"{kind}:{','.join(str(n) for n in sorted(numbers))}")
    return sorted(out)


def _code(kind: str, part: str, value: str) -> int:
    try:
        number = int(part.strip())
    except ValueError:
        raise ValueError(f"retry-on {value!r}: {part!r} is not a number") from None
    if not 1 <= number <= _MAX_CODE[kind]:
        raise ValueError(f"retry-on {value!r}: {kind} codes go from 1 to {_MAX_CODE[kind]}")
    return number


def failure_kind(exit_status: int | None, msg: str | None) -> tuple[str, int] | None:
    """(kind, code) of a committed result that `on` may name: an exit code, a signal or a timeout."""
    if msg == "ExecTimeout":
        return ("timeout", 0)
    if msg is not None or exit_status is None or exit_status == 0:
        return None
    return ("signal", -exit_status) if exit_status < 0 else ("exit", exit_status)


def matches(on: Iterable[str], kind: str, code: int = 0) -> bool:
    """Whether a policy's canonical `on` list names this failure."""
    for entry in on:
        name, _, codes = entry.partition(":")
        if name == kind and (not codes or str(code) in codes.split(",")):
            return True
    return False


def retry_delay(policy: Mapping[str, Any], retry_number: int) -> int:
    """Seconds before retry number `retry_number` (1 for the first retry)."""
    delay = int(policy.get("delay") or 0)
    if policy.get("backoff") == Backoff.exponential:
        delay = delay * 2 ** min(max(retry_number - 1, 0), 32)
    return min(delay, MAX_RETRY_DELAY)


def describe(policy: Mapping[str, Any] | None) -> str:
    """One line for people: `3 retries on exit:1, timeout; 30s delay, exponential`."""
    if not policy:
        return "none"
    text = f"{policy.get('retries', 0)} retries on {', '.join(policy.get('on') or DEFAULT_RETRY_ON)}"
    if policy.get("delay"):
        text += f"; {policy['delay']}s delay, {policy.get('backoff') or Backoff.fixed}"
    return text
