"""Run one task command in its own process group, with a timeout and a kill that reaches every descendant.

The agent learns of the command's exit the moment it happens where the OS offers a pidfd (Linux >= 5.3: a
poll on it wakes at the exit), else by Popen's polling wait (sleeps doubling from 0.5 ms): a no-op command
would otherwise cost up to twice its run time in waiting. Either way the wait wakes every TICK to look at
the stop flag and the deadline.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("mito.worker")

TICK = 0.1  # seconds between looks at the stop flag and the deadline while the command runs


@dataclass
class RunOutcome:
    """How the command ended: its exit status (-N for signal N), and whether it was cut short."""

    exit_status: int
    timed_out: bool = False
    cancelled: bool = False


def kill_group(pgid: int, sig: int) -> bool:
    """Send `sig` to a whole process group; False when the group no longer exists."""
    try:
        os.killpg(pgid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def run_command(
    argv: list[str],
    *,
    env: Mapping[str, str] | Mapping[bytes, bytes],
    cwd: Path | None = None,
    timeout: float,
    grace: float,
    stdout: Path | None,
    stderr: Path | None,
    stop: threading.Event,
    on_spawn: Callable[[int], None] | None = None,
    on_running: Callable[[], object] | None = None,
) -> RunOutcome:
    """Spawn `argv`, wait until it exits, times out, or `stop` is set; then end its whole process group.

    It runs in `cwd` (None: the agent's own). Output goes straight to the files `stdout`/`stderr` (None:
    /dev/null), never through memory. `on_spawn(pid)` is called once the process exists; `on_running()`
    once it is found still running a TICK later (never for a command that ends sooner).
    """
    out = open(stdout, "wb") if stdout else subprocess.DEVNULL  # noqa: SIM115
    err = open(stderr, "wb") if stderr else subprocess.DEVNULL  # noqa: SIM115
    try:
        try:
            proc = subprocess.Popen(
                argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            log.warning("cannot start %s: %s", argv[0] if argv else "", exc)
            if stderr:
                Path(stderr).write_text(f"mito worker: cannot start {argv!r}: {exc}\n")
            return RunOutcome(exit_status=127)
    finally:
        for fh in (out, err):
            if not isinstance(fh, int):
                fh.close()
    deadline = time.monotonic() + timeout
    if on_spawn:
        on_spawn(proc.pid)
    timed_out = cancelled = False
    pidfd = _pidfd(proc.pid)
    try:
        while not _exited(proc, pidfd, min(TICK, max(0.0, deadline - time.monotonic()))):
            if on_running is not None:
                on_running()
                on_running = None
            if stop.is_set():
                cancelled = True
                break
            if time.monotonic() >= deadline:
                timed_out = True
                break
    finally:
        if pidfd is not None:
            os.close(pidfd)
    if proc.returncode is None:
        terminate_group(proc, grace)
    else:
        kill_group(proc.pid, signal.SIGKILL)  # descendants left behind by a finished command
    # Popen's returncode is already the exit code, or -N for a signal N (ARCHITECTURE 6.5)
    return RunOutcome(exit_status=proc.returncode, timed_out=timed_out, cancelled=cancelled)


def _pidfd(pid: int) -> int | None:
    """A file descriptor that becomes readable when `pid` exits, or None where the OS has none."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # not Linux, Linux < 5.3, or a seccomp filter refusing it
        return None


def _exited(proc: subprocess.Popen[bytes], pidfd: int | None, timeout: float) -> bool:
    """Wait at most `timeout` seconds for the process to exit; True (and reaped) once it has."""
    if pidfd is None:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    poller = select.poll()
    poller.register(pidfd, select.POLLIN)
    if not poller.poll(timeout * 1000):
        return False
    proc.wait()  # it has exited: reaped at once
    return True


def terminate_group(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM the group, wait `grace` seconds for the leader, then SIGKILL the whole group."""
    log.info("sending SIGTERM to process group %d", proc.pid)
    kill_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log.info("process group %d still alive after %.1fs: SIGKILL", proc.pid, grace)
    kill_group(proc.pid, signal.SIGKILL)
    proc.wait()
