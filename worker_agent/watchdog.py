"""Task process groups die with their agent, even when it is killed with SIGKILL.

The agent starts one watchdog process (`python -m worker_agent.watchdog`) and writes to its stdin each
process group it spawns (`+PGID`) and reaps (`-PGID`). The watchdog reads until that pipe closes, which the
kernel does when the agent exits or dies however it dies; then it SIGKILLs every group still listed and
exits. It runs in a session of its own and ignores SIGINT and SIGTERM, so a Ctrl-C meant for the agent or a
kill of the agent alone does not take it down first. PR_SET_PDEATHSIG would not do: it reaches only the
direct child, not the command's own children, and needs a preexec_fn, unsafe in a threaded program.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from typing import IO

log = logging.getLogger("mito.worker")


class Watchdog:
    """The agent's end of the pipe: track and untrack process groups; `close` when the agent exits."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Watchdog:
        """Start the watchdog process (without one, task groups outlive a killed agent, as before)."""
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "worker_agent.watchdog"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            log.warning("cannot start the watchdog (task processes would outlive a killed agent): %s", exc)
        return self

    def track(self, pgid: int) -> None:
        """A task's process group was spawned: kill it if the agent dies."""
        self._send(f"+{pgid}\n")

    def untrack(self, pgid: int) -> None:
        """The group was reaped by the agent."""
        self._send(f"-{pgid}\n")

    def close(self) -> None:
        """The agent exits: the watchdog kills what is still listed (nothing, normally) and exits."""
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None and proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def _send(self, line: str) -> None:
        with self._lock:
            if self._proc is None or self._proc.stdin is None:
                return
            try:
                self._proc.stdin.write(line.encode())
                self._proc.stdin.flush()
            except OSError as exc:  # the watchdog died: the tasks still run, only unguarded
                log.warning("the watchdog is gone (%s)", exc)
                self._proc = None


def watch(stream: IO[bytes]) -> set[int]:
    """Read `+PGID`/`-PGID` lines until end of file; return the groups still listed."""
    groups: set[int] = set()
    for raw in stream:
        line = raw.strip()
        with contextlib.suppress(ValueError):
            if line.startswith(b"+"):
                groups.add(int(line[1:]))
            elif line.startswith(b"-"):
                groups.discard(int(line[1:]))
    return groups


def main() -> None:
    """The watchdog process."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    for pgid in watch(sys.stdin.buffer):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


if __name__ == "__main__":
    main()
