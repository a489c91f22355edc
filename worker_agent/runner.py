"""Run one task command in its own process group, with a timeout and a kill that reaches every descendant."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("mito.worker")


@dataclass
class RunOutcome:
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
    env: dict[str, str],
    cwd: Path,
    timeout: float,
    grace: float,
    stdout: Path | None,
    stderr: Path | None,
    stop: threading.Event,
    on_spawn=None,
) -> RunOutcome:
    """Spawn `argv`, wait until it exits, times out, or `stop` is set; then end its whole process group.

    Output goes straight to the files `stdout`/`stderr` (None: /dev/null), never through memory.
    """
    out = open(stdout, "wb") if stdout else subprocess.DEVNULL  # noqa: SIM115
    err = open(stderr, "wb") if stderr else subprocess.DEVNULL  # noqa: SIM115
    try:
        try:
            proc = subprocess.Popen(
                argv, env=env, cwd=str(cwd), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            log.warning("cannot start %s: %s", argv[0] if argv else "", exc)
            if stderr:
                Path(stderr).write_text(f"mito worker: cannot start {argv!r}: {exc}\n")
            return RunOutcome(exit_status=127)
    finally:
        for fh in (out, err):
            if fh is not subprocess.DEVNULL:
                fh.close()
    deadline = time.monotonic() + timeout
    if on_spawn:
        on_spawn(proc.pid)
    timed_out = cancelled = False
    while True:
        try:
            proc.wait(timeout=min(0.1, max(0.0, deadline - time.monotonic())))
            break
        except subprocess.TimeoutExpired:
            pass
        if stop.is_set():
            cancelled = True
            break
        if time.monotonic() >= deadline:
            timed_out = True
            break
    if proc.returncode is None:
        terminate_group(proc, grace)
    else:
        kill_group(proc.pid, signal.SIGKILL)  # descendants left behind by a finished command
    # Popen's returncode is already the exit code, or -N for a signal N (ARCHITECTURE 6.5)
    return RunOutcome(exit_status=proc.returncode, timed_out=timed_out, cancelled=cancelled)


def terminate_group(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM the group, wait `grace` seconds for the leader, then SIGKILL the whole group."""
    log.info("sending SIGTERM to process group %d", proc.pid)
    kill_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log.info("process group %d still alive after %.1fs: SIGKILL", proc.pid, grace)
    kill_group(proc.pid, signal.SIGKILL)
    proc.wait()
