"""Who may stop what: the agent's stop flags, the tasks it is running, signals and a refused worker.

Every stop request lands here, whatever its source (a signal, the heartbeat's cancel list, a notice on
Redis, a 401), and is passed on to the running tasks as a StopReason; the steps look at nothing else.
`runs` is keyed by task uuid so that several tasks per agent (slots) fit in.

How the agent exits says what happened (`exit_code`): 0 when it was asked to stop (a signal, a shutdown,
unregistering), EXIT_REMOVED when the coordinator removed the worker without being asked to (heartbeat
timeout, task overrun, token expired, or a reason it does not know), so that a supervisor's
`Restart=on-failure` starts it again and it registers anew.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from types import FrameType

from client.http import ApiError
from mito.vocab import WorkerRemoval
from worker_agent.runner import kill_group
from worker_agent.task import StopReason, TaskRun

log = logging.getLogger("mito.worker")

EXIT_REMOVED = 75  # EX_TEMPFAIL: removed by the coordinator, worth starting again


def removal_in(exc: ApiError) -> WorkerRemoval | None:
    """Why the coordinator says this worker was removed, from a 401's body (`removed`); None if unsaid."""
    return WorkerRemoval.parse(exc.body.get("removed")) if isinstance(exc.body, dict) else None


class Control:
    """The agent's stop flags and its running tasks."""

    def __init__(self) -> None:
        self.stopping = threading.Event()  # fetch no more tasks
        self.forced = threading.Event()  # exit now: no more retries, no unregister
        # Read from the heartbeat thread and signal handlers without a lock: single dict operations are
        # atomic, and a lock taken by the main thread would deadlock a signal handler running in it.
        self.runs: dict[str, TaskRun] = {}
        self.removal: WorkerRemoval | None = None  # why the coordinator removed this worker, once it said
        self._signals = 0

    def track(self, run: TaskRun) -> None:
        """A task starts: stop requests reach it from now on (at once if the agent is already stopping)."""
        self.runs[run.uuid] = run
        if self.stopping.is_set():
            run.stop(StopReason.GONE if self.forced.is_set() else StopReason.SHUTDOWN)

    def untrack(self, run: TaskRun) -> None:
        """The task left the steps."""
        self.runs.pop(run.uuid, None)

    def cancel(self, uuid: str) -> None:
        """The user cancelled this task: end it and commit UserCancellation."""
        run = self.runs.get(uuid)
        if run is not None and run.reason is None:
            log.info("task %s was cancelled by its user: ending it", uuid)
            run.stop(StopReason.USER)

    def drop(self, uuid: str) -> None:
        """The task is no longer this worker's: end it and commit nothing."""
        run = self.runs.get(uuid)
        if run is not None:
            log.info("task %s was taken from this worker: ending it", uuid)
            run.stop(StopReason.LOST)

    def stop_all(self, reason: StopReason) -> None:
        """Pass a stop on to every running task."""
        for run in list(self.runs.values()):
            run.stop(reason)

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: stop and hand the running task back; a second signal exits at once."""
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)

    def on_signal(self, signum: int, _frame: FrameType | None) -> None:
        """The signal handler."""
        self._signals += 1
        if self._signals > 1:
            log.warning("second signal: exiting now")
            for run in list(self.runs.values()):
                if run.pgid:
                    kill_group(run.pgid, signal.SIGKILL)
            os._exit(130)
        log.info("signal %d: stopping (no more tasks; the running one is ended and handed back)", signum)
        self.stopping.set()
        self.stop_all(StopReason.SHUTDOWN)

    def on_gone(self, why: str, removal: WorkerRemoval | None = None) -> None:
        """The worker no longer exists (a 401, or a notice saying so): end its tasks and exit at once."""
        if removal is not None and self.removal is None:
            self.removal = removal
        if not self.forced.is_set():
            said = f"removed: {removal}" if removal is not None else "removed or shut down"
            log.warning("the coordinator refused this worker (%s; %s): exiting", why, said)
        self.stopping.set()
        self.forced.set()
        self.stop_all(StopReason.GONE)

    def exit_code(self) -> int:
        """0 unless the coordinator removed this worker without anyone asking (then EXIT_REMOVED)."""
        if not self.forced.is_set() or (self.removal is not None and self.removal.requested):
            return 0
        return EXIT_REMOVED
