"""The one retry rule (worker_agent/backoff.py): what is retried, the waits, the deadline, the interrupt."""

from __future__ import annotations

import threading
import time

import pytest

from client.http import ApiError, TransportError
from worker_agent.backoff import Backoff, is_transient


class RecordingEvent(threading.Event):
    """An interrupt that records the waits asked of it instead of sleeping; set after `set_after` waits."""

    def __init__(self, set_after: int | None = None):
        super().__init__()
        self.waits: list[float] = []
        self.set_after = set_after

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        if self.set_after is not None and len(self.waits) >= self.set_after:
            self.set()
        return self.is_set()


def failing(*errors: Exception, then: object = "done"):
    """An attempt that raises `errors` one per call, then returns `then`."""
    pending = list(errors)
    calls = []

    def attempt():
        calls.append(time.monotonic())
        if pending:
            raise pending.pop(0)
        return then

    attempt.calls = calls
    return attempt


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (TransportError("refused"), True),
        (ApiError(500, "boom"), True),
        (ApiError(503, "unavailable"), True),
        (ApiError(429, "slow down"), True),
        (ApiError(400, "bad"), False),
        (ApiError(401, "gone"), False),
        (ApiError(404, "lost"), False),
        (ValueError("not an API error"), False),
    ],
)
def test_is_transient(error, transient):
    assert is_transient(error) is transient


def test_transient_errors_are_retried_with_doubling_waits_up_to_the_cap():
    interrupt = RecordingEvent()
    attempt = failing(*[ApiError(503, "x")] * 5)
    assert Backoff(first=0.5, cap=3.0).retry("call", attempt, interrupt=interrupt) == "done"
    assert interrupt.waits == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert len(attempt.calls) == 6


def test_a_permanent_error_is_raised_at_once_without_waiting():
    interrupt = RecordingEvent()
    attempt = failing(ApiError(404, "no such task"))
    with pytest.raises(ApiError) as info:
        Backoff().retry("call", attempt, interrupt=interrupt)
    assert info.value.status == 404
    assert interrupt.waits == [] and len(attempt.calls) == 1


def test_a_custom_predicate_decides_what_is_transient():
    interrupt = RecordingEvent()
    attempt = failing(ApiError(403, "expired URL"))
    result = Backoff().retry(
        "upload", attempt, interrupt=interrupt, transient=lambda exc: getattr(exc, "status", 0) == 403
    )
    assert result == "done" and interrupt.waits == [0.5]


def test_retrying_ends_with_the_last_error_when_the_next_wait_would_pass_the_deadline():
    interrupt = RecordingEvent()
    last = ApiError(502, "still down")
    attempt = failing(ApiError(503, "down"), ApiError(503, "down"), last)
    with pytest.raises(ApiError) as info:
        Backoff(first=1.0, cap=8.0).retry(
            "call", attempt, interrupt=interrupt, deadline=time.monotonic() + 2.5
        )
    assert info.value is last
    # waits are recorded, not slept: 1 s and 2 s fit in 2.5 s, the next 4 s would not
    assert interrupt.waits == [1.0, 2.0]


def test_an_interrupt_during_a_wait_ends_retrying_with_the_last_error():
    interrupt = RecordingEvent(set_after=2)
    attempt = failing(*[TransportError("refused")] * 10)
    with pytest.raises(TransportError):
        Backoff().retry("call", attempt, interrupt=interrupt)
    assert len(interrupt.waits) == 2 and len(attempt.calls) == 2


def test_an_interrupt_already_set_means_a_single_attempt():
    interrupt = RecordingEvent()
    interrupt.set()
    attempt = failing(TransportError("refused"))
    with pytest.raises(TransportError):
        Backoff().retry("call", attempt, interrupt=interrupt)
    assert interrupt.waits == [] and len(attempt.calls) == 1


def test_a_real_wait_is_cut_short_by_the_interrupt():
    interrupt = threading.Event()
    threading.Timer(0.2, interrupt.set).start()
    started = time.monotonic()
    with pytest.raises(TransportError):
        Backoff(first=30.0, cap=30.0).retry("call", failing(TransportError("x")), interrupt=interrupt)
    assert time.monotonic() - started < 5
