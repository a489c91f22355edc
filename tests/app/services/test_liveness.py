"""The coordinator's liveness mark (services called directly, with explicit clocks)."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import db
from app.models import CoordinatorLiveness
from app.services import liveness
from app.services.liveness import Timing
from tests import builders

TIMEOUT = 600  # the suite's MITO_HEARTBEAT_TIMEOUT: a mark every 5 s, an outage after 25 s


def _row() -> sa.Row | None:
    """The mark's columns, read in a transaction that ends at once (SQLite: never hold its lock)."""
    db.session.rollback()
    row = db.session.execute(
        sa.select(
            CoordinatorLiveness.seen_at, CoordinatorLiveness.live_since, CoordinatorLiveness.outage_after
        )
    ).first()
    db.session.rollback()
    return row


@pytest.mark.parametrize(
    ("timeout", "every", "outage"), [(600, 5.0, 25.0), (60, 3.0, 15.0), (3, 0.15, 1.0), (0.5, 0.1, 1.0)]
)
def test_timing_follows_the_heartbeat_timeout(timeout, every, outage):
    timing = Timing.of({"HEARTBEAT_TIMEOUT_SECONDS": timeout})
    assert (timing.mark_every, timing.outage_after) == pytest.approx((every, outage))


def test_first_mark_starts_a_run_of_service(app_ctx):
    now = db.utcnow()
    liveness.mark(now=now)
    row = _row()
    assert (row.seen_at, row.live_since, row.outage_after) == (now, now, 25.0)


def test_marks_within_the_outage_threshold_keep_the_run(app_ctx):
    start = db.utcnow()
    liveness.mark(now=start)
    liveness.mark(now=start + timedelta(seconds=20))
    row = _row()
    assert (row.seen_at, row.live_since) == (start + timedelta(seconds=20), start)


def test_a_mark_after_a_gap_starts_a_new_run(app_ctx):
    start = db.utcnow()
    liveness.mark(now=start)
    back = start + timedelta(seconds=26)
    liveness.mark(now=back)
    row = _row()
    assert (row.seen_at, row.live_since) == (back, back)


def test_a_mark_within_half_an_interval_writes_nothing(app_ctx):
    start = db.utcnow()
    liveness.mark(now=start)
    liveness.mark(now=start + timedelta(seconds=2))
    assert _row().seen_at == start


def test_an_older_mark_never_moves_seen_at_backwards(app_ctx):
    start = db.utcnow()
    liveness.mark(now=start)
    liveness.mark(now=start - timedelta(seconds=10))
    assert _row().seen_at == start


def test_nothing_is_judged_before_any_mark(app_ctx):
    assert liveness.serving_since() is None
    assert not liveness.served_throughout(1)


def test_served_throughout_needs_a_fresh_mark_and_a_run_as_long_as_the_window(app_ctx):
    now = db.utcnow()
    builders.coordinator_served(since=now - timedelta(seconds=TIMEOUT + 1), until=now)
    assert liveness.served_throughout(TIMEOUT, now=now)
    assert not liveness.served_throughout(TIMEOUT + 2, now=now)
    # the same marks, read 16 s later: the marker's threshold (15 s in coordinator_served) has passed
    assert not liveness.served_throughout(TIMEOUT, now=now + timedelta(seconds=16))
    assert liveness.serving_since(now=now + timedelta(seconds=16)) is None


def test_the_marker_thread_marks_until_stopped(app, app_ctx, monkeypatch):
    monkeypatch.setitem(app.config, "HEARTBEAT_TIMEOUT_SECONDS", 2)  # a mark every 0.1 s
    marker = liveness.Marker(app)
    marker.start()
    try:
        deadline = db.utcnow() + timedelta(seconds=10)
        while _row() is None and db.utcnow() < deadline:
            marker.stopping.wait(0.05)
        first = _row().seen_at
        while _row().seen_at == first and db.utcnow() < deadline:
            marker.stopping.wait(0.05)
        assert _row().seen_at > first
    finally:
        marker.stopping.set()
        marker.join(timeout=10)
    assert not marker.is_alive()


def test_a_process_that_stopped_marking_never_starts_a_marker_again(app):
    """After SIGTERM (app/server.py) a gunicorn worker may still serve a kept-alive request: no new marker."""
    try:
        liveness.stop_marking()
        assert liveness.ensure_marker(app) is None
    finally:
        liveness._stopped.discard(os.getpid())
