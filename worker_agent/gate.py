"""The host the slots of one agent share: which of them are busy, and whether an exclusive task holds it.

A slot is busy from the moment it asks the coordinator for a task until that task has left the steps, so
a fetch in flight counts: it may claim a task at any moment. A task tagged `exclusive` (only slot 0 carries
the tag, worker_agent/slots.py) is run under `hold`: from then on no other slot starts a fetch, and the
task waits until every other slot is idle; when it ends they fetch again. The wait counts against the
task's timeout on the coordinator (as downloading its resources does), so a host whose other tasks run
for long is a poor place for exclusive tasks with short timeouts.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator

log = logging.getLogger("mito.worker")

_RECHECK = 0.2  # seconds between looks at a stop flag while waiting (stop flags are not this condition)


class HostGate:
    """Busy slots and the exclusive hold, behind one condition variable."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._busy = 0
        self._held = False

    @property
    def busy(self) -> int:
        """How many slots are fetching or running a task."""
        return self._busy

    @property
    def held(self) -> bool:
        """An exclusive task holds the host, or waits for it (slots should go idle rather than chain)."""
        return self._held

    def enter(self, stop: threading.Event) -> bool:
        """Before a fetch: wait while an exclusive task holds the host; False when `stop` is set meanwhile."""
        with self._cond:
            while self._held and not stop.is_set():
                self._cond.wait(_RECHECK)
            if stop.is_set():
                return False
            self._busy += 1
            return True

    def leave(self) -> None:
        """The slot is idle again (its fetch came back empty, or its task left the steps)."""
        with self._cond:
            self._busy -= 1
            self._cond.notify_all()

    @contextlib.contextmanager
    def hold(self, uuid: str, stop: threading.Event) -> Iterator[None]:
        """Run the block with the host to itself: others stop fetching, and it waits until they are idle.

        The caller is a busy slot (inside `enter`); a stop ends the wait early (the task is then handed
        back by the steps, which see the same stop).
        """
        with self._cond:
            self._held = True
            if self._busy > 1:
                log.info("task %s is exclusive: waiting for %d other slot(s) to finish", uuid, self._busy - 1)
            while self._busy > 1 and not stop.is_set():
                self._cond.wait(_RECHECK)
        try:
            yield
        finally:
            with self._cond:
                self._held = False
                self._cond.notify_all()
