"""Coordinator liveness: is the API serving, and has it served long enough to judge a worker's silence?

What. Every serving coordinator process marks the one coordinator_liveness row every `mark_interval`
seconds (a daemon thread, started by the process's first request): `seen_at` becomes now, and
`live_since` too when the previous mark is older than `outage_after` (every process was down, or the
database was unreachable, in between). The housekeeping jobs never mark. Before they remove a worker for
its silence or for its task's overrun, they ask `served_throughout(window)`: has the coordinator served,
without a gap, for the whole `window` up to now? If so they get the last mark, and count silence only up
to it (an outage shows only `outage_after` after the last mark; the time since is nobody's silence). So the
reaper removes only workers silent for the heartbeat timeout *while the coordinator was accepting
heartbeats*: an API outage longer than the timeout (Celery beat still running) removes nobody, and
afterwards every worker has a full timeout to call in.

Why in the database: any number of replicas serve one database and the jobs run in other processes;
nothing another process needs lives in memory. The marking interval derives from MITO_HEARTBEAT_TIMEOUT
(timeout/20, between 0.1 s and 5 s) and an outage is a mark older than five intervals (at least 1 s);
each mark stores that threshold, so a reader judges by the marker's own timing.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from app import db
from app.models import CoordinatorLiveness
from app.models.liveness import SINGLETON_ID

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timing:
    """How often a serving process marks, and how old a mark must be to mean the coordinator is down."""

    mark_every: float
    outage_after: float

    @classmethod
    def of(cls, config: Mapping[str, Any]) -> Timing:
        """The timing for a configuration (from its heartbeat timeout)."""
        every = min(5.0, max(0.1, float(config["HEARTBEAT_TIMEOUT_SECONDS"]) / 20))
        return cls(mark_every=every, outage_after=max(1.0, 5 * every))


@db.transactional
def mark(*, now: datetime | None = None) -> None:
    """Record that this coordinator process is serving (at most one write per half interval, cluster-wide)."""
    now = now or db.utcnow()
    timing = Timing.of(current_app.config)
    row = db.session.get(CoordinatorLiveness, SINGLETON_ID, populate_existing=True)
    if row is not None and now - row.seen_at < timedelta(seconds=timing.mark_every / 2):
        return
    gap = row is None or now - row.seen_at > timedelta(seconds=max(row.outage_after, timing.outage_after))
    if gap and row is not None:
        log.warning("the coordinator was not serving from %s to %s", row.seen_at.isoformat(), now.isoformat())
    live_since = now if gap or row is None else row.live_since
    values: dict[str, Any] = {"seen_at": now, "live_since": live_since, "outage_after": timing.outage_after}
    insert = postgresql.insert if db.is_postgres() else sqlite.insert
    stmt = insert(CoordinatorLiveness).values(id=SINGLETON_ID, **values)
    # A slower replica's older mark never moves seen_at backwards.
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"], set_=values, where=CoordinatorLiveness.seen_at < now
    )
    db.session.execute(stmt)


def _current_run(now: datetime) -> CoordinatorLiveness | None:
    """The liveness row while the coordinator serves (its last mark no older than the outage threshold)."""
    row = db.session.scalar(sa.select(CoordinatorLiveness).where(CoordinatorLiveness.id == SINGLETON_ID))
    if row is None or now - row.seen_at > timedelta(seconds=row.outage_after):
        return None
    return row


def serving_since(*, now: datetime | None = None) -> datetime | None:
    """When the coordinator's current uninterrupted run of marks began; None while it is not serving."""
    row = _current_run(now or db.utcnow())
    return None if row is None else row.live_since


def served_throughout(window: float, *, now: datetime | None = None) -> datetime | None:
    """The last mark, when the coordinator has served without a gap for the last `window` seconds; else None.

    A judge counts silence only up to that mark, never up to `now`: the API may have stopped just after
    it, and the gap shows only `outage_after` seconds later.
    """
    now = now or db.utcnow()
    row = _current_run(now)
    if row is None or row.live_since > now - timedelta(seconds=window):
        log.info(
            "the coordinator has not served for the last %gs (%s): nobody is judged silent",
            window,
            "not serving now" if row is None else f"serving since {row.live_since.isoformat()}",
        )
        return None
    return min(now, row.seen_at)


# ---------------------------------------------------------------- the marking thread


class Marker(threading.Thread):
    """Marks every interval while its process lives; a failed mark (database down) is retried next time."""

    def __init__(self, app: Flask):
        super().__init__(name="mito-liveness", daemon=True)
        self.app = app
        self.every = Timing.of(app.config).mark_every
        self.stopping = threading.Event()

    def run(self) -> None:
        """The thread's loop."""
        failing = False
        while not self.stopping.is_set():
            started = time.monotonic()
            with self.app.app_context():
                try:
                    mark()
                    if failing:
                        log.info("liveness mark written again")
                    failing = False
                except SQLAlchemyError as exc:
                    if not failing:
                        log.warning("cannot write the liveness mark: %s", exc)
                    failing = True
            self.stopping.wait(max(0.0, self.every - (time.monotonic() - started)))


_markers: dict[int, Marker] = {}
_markers_lock = threading.Lock()
_stopped: set[int] = set()  # processes that are shutting down: they mark no more


def ensure_marker(app: Flask) -> Marker | None:
    """This process's marker, started on first use (after a fork too: gunicorn workers each get one); None
    once the process has stopped marking."""
    pid = os.getpid()
    with _markers_lock:
        if pid in _stopped:
            return None
        marker = _markers.get(pid)
        if marker is None or not marker.is_alive():
            marker = _markers[pid] = Marker(app)
            marker.start()
        return marker


def stop_marking() -> None:
    """This process marks no more, for good: it is shutting down.

    A gunicorn worker told to stop accepts no new connection at once but can take seconds to exit (requests in
    flight, kept-alive connections lingering). Marking meanwhile would tell the judges the coordinator serves
    while agents cannot get in, and they would be reaped as silent. A request served meanwhile does not
    start a new marker.
    """
    pid = os.getpid()
    with _markers_lock:
        _stopped.add(pid)
        marker = _markers.pop(pid, None)
    if marker is not None:
        marker.stopping.set()


def init_app(app: Flask) -> None:
    """Start marking with the app's first request (MITO_LIVENESS_MARKER=false: never; in-process tests)."""
    if not app.config.get("LIVENESS_MARKER", True):
        return

    @app.before_request
    def _serving() -> None:
        marker = _markers.get(os.getpid())
        if marker is None or not marker.is_alive():
            ensure_marker(app)
