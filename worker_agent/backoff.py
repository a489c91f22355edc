"""The agent's one retry rule, for API calls, downloads and uploads alike.

A transient failure (the coordinator or the store unreachable, 5xx, 429) is retried after a wait that
doubles from `first` up to `cap`; anything else is raised at once. Retrying ends, raising the last error,
when the next wait would pass the deadline or when `interrupt` is set (before or during a wait), so a
stopping agent never sleeps through its own shutdown. A dozen lines did not justify a dependency.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from client.http import ApiError
from worker_agent import metrics

log = logging.getLogger("mito.worker")
T = TypeVar("T")


def is_transient(exc: BaseException) -> bool:
    """True for failures worth retrying: no connection (status 0), 5xx and 429."""
    return isinstance(exc, ApiError) and (exc.status == 0 or exc.status >= 500 or exc.status == 429)


@dataclass(frozen=True)
class Backoff:
    """Waits between attempts: `first`, then doubled each time, never above `cap` (seconds)."""

    first: float = 0.5
    cap: float = 10.0

    def retry(
        self,
        what: str,
        attempt: Callable[[], T],
        *,
        interrupt: threading.Event,
        deadline: float | None = None,
        transient: Callable[[BaseException], bool] = is_transient,
    ) -> T:
        """Return `attempt()`, retrying transient errors; re-raise the last error once retrying ends."""
        delay = self.first
        while True:
            try:
                return attempt()
            except Exception as exc:
                metrics.api_failure(exc)
                late = deadline is not None and time.monotonic() + delay > deadline
                if not transient(exc) or late or interrupt.is_set():
                    raise
                log.warning("%s failed (%s); retrying in %.1fs", what, exc, delay)
                if interrupt.wait(delay):
                    raise
                delay = min(delay * 2, self.cap)
