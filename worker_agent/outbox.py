"""Report ops on their way to the coordinator: batched when it offers the `report_batch` extension.

Exec states, Finish and Cancel need no answer. With the extension, `put` queues them and returns at once;
they travel with the next op that needs an answer (an Upload's URL, a Submit, the Commit), or, when nothing
else leaves within `delay`, in a batch of their own that the flusher thread sends. So a task that uploads
nothing costs its claim and its commit, the commit may claim the next task (then one request per task),
and no exec state ever holds a step up. A batch is applied all or none: when the coordinator refuses one
(4xx), the queued ops it carried go back to the queue and travel with the next one.

Without the extension every op goes on its own, as the spec has it: exec states best effort (logged,
never retried), the others retried until the coordinator answers.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from client.http import ApiError
from mito.vocab import MAX_BATCH_OPS
from worker_agent.backoff import is_transient
from worker_agent.control import removal_in
from worker_agent.link import Link
from worker_agent.task import StopReason, TaskLost, TaskRun

log = logging.getLogger("mito.worker")

Op = Any  # a ReportTaskOp in its wire form: "Finish", {"ExecState": "ExecSpawned"}, {"Commit": {...}}


@dataclass(frozen=True)
class Answer:
    """What a send brought back: the Upload ops' URLs in order, and the next task claimed at the commit."""

    urls: list[str]
    next: dict[str, Any] | None = None


def _is_exec_state(op: Op) -> bool:
    return isinstance(op, dict) and "ExecState" in op


def _compact(ops: list[Op]) -> list[Op]:
    """Queued ops that fit a batch: past a few dozen, of the exec states only the last one still matters."""
    if len(ops) <= MAX_BATCH_OPS // 2:
        return ops
    states = [op for op in ops if _is_exec_state(op)]
    return [op for op in ops if not _is_exec_state(op)] + states[-1:]


class Outbox:
    """The report ops of the tasks this agent runs, queued per task and sent in as few requests as it can."""

    def __init__(self, link: Link, *, delay: float = 0.5):
        self.link = link
        self.delay = delay
        self.batched = False  # the coordinator offers report_batch (set at registration)
        self._cond = threading.Condition()  # guards every run's `pending` and `_due`
        self._due: dict[str, tuple[float, TaskRun]] = {}  # runs with queued ops: when their flush is due
        self._closed = False
        self._wakes_at = math.inf  # when the waiting flusher wakes by itself (monotonic time)
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- the steps' side
    def put(self, run: TaskRun, op: Op) -> None:
        """An op that needs no answer: queued (batched), else sent now."""
        if not self.batched:
            self._send_alone(run, op)
            return
        with self._cond:
            if run.settled:
                return
            run.pending.append(op)
            if run.uuid not in self._due:
                due = time.monotonic() + self.delay
                self._due[run.uuid] = (due, run)
                if due < self._wakes_at:  # else the flusher wakes in time anyway: no thread switch per op
                    self._cond.notify()

    def send(
        self,
        run: TaskRun,
        what: str,
        ops: list[Op],
        *,
        claim_next: bool = False,
        deadline: float | None = None,
    ) -> Answer:
        """Ops that need an answer, with everything queued before them; retried while transient.

        404: TaskLost (the task is no longer this worker's); 401: WorkerGone (Link.call).
        """
        if not self.batched:
            api = self.link.api
            answers = [self._call(run, what, lambda op=op: api.report(run.id, op), deadline) for op in ops]
            return Answer(urls=[str(a["url"]) for a in answers if a.get("url")])
        with run.sending:
            taken = self._take(run)
            body = _compact(taken) + ops
            try:
                batch = functools.partial(
                    self.link.api.report_batch, run.id, body, claim_next=claim_next, attempt=run.attempt
                )
                resp = self._call(run, what, batch, deadline)
            except ApiError:
                self._requeue(run, taken)
                raise
            if claim_next or any(isinstance(op, dict) and "Commit" in op for op in ops):
                self.settle(run)
        return Answer(urls=[str(u) for u in resp.get("urls") or []], next=resp.get("next"))

    def settle(self, run: TaskRun) -> None:
        """The task left this agent (committed, lost or dropped): forget what is still queued for it."""
        with self._cond:
            run.settled = True
            run.pending.clear()
            self._due.pop(run.uuid, None)

    # ---------------------------------------------------------------- the flusher
    def start(self) -> None:
        """Start the flusher thread (batched mode only)."""
        if self.batched and self._thread is None:
            self._thread = threading.Thread(target=self._flush_loop, name="outbox", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the flusher thread."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _flush_loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._ready():
                    wait = min((due for due, _ in self._due.values()), default=None)
                    self._wakes_at = math.inf if wait is None else wait
                    self._cond.wait(None if wait is None else max(0.0, wait - time.monotonic()))
                if self._closed:
                    return
                now = time.monotonic()
                runs = [run for due, run in self._due.values() if due <= now]
                for run in runs:
                    self._due.pop(run.uuid, None)
            for run in runs:
                self._flush(run)

    def _ready(self) -> bool:
        now = time.monotonic()
        return any(due <= now for due, _ in self._due.values())

    def _flush(self, run: TaskRun) -> None:
        """Send what is queued for one task, once, best effort (a step's send may carry it meanwhile)."""
        with run.sending:
            taken = self._take(run)
            if not taken:
                return
            try:
                self.link.api.report_batch(run.id, _compact(taken), claim_next=False, attempt=run.attempt)
            except ApiError as exc:
                if self._refused(run, "report batch", exc):
                    return
                if is_transient(exc):  # they go with the next batch
                    self._requeue(run, taken, due=False)
                else:
                    log.warning("task %s: report batch refused (%s): %s dropped", run.uuid, exc, taken)

    # ---------------------------------------------------------------- helpers
    def _take(self, run: TaskRun) -> list[Op]:
        with self._cond:
            taken, run.pending[:] = list(run.pending), []
            self._due.pop(run.uuid, None)
            return taken

    def _requeue(self, run: TaskRun, ops: list[Op], *, due: bool = True) -> None:
        with self._cond:
            if run.settled or not ops:
                return
            run.pending[:0] = ops
            if due:
                self._due.setdefault(run.uuid, (time.monotonic() + self.delay, run))
                self._cond.notify()

    def _call(self, run: TaskRun, what: str, fn: Any, deadline: float | None) -> dict[str, Any]:
        try:
            resp: dict[str, Any] = self.link.call(f"{what} of task {run.uuid}", fn, deadline=deadline)
        except ApiError as exc:
            if exc.status == 404:
                raise TaskLost(exc.message) from exc
            raise
        return resp

    def _send_alone(self, run: TaskRun, op: Op) -> None:
        if not _is_exec_state(op):
            self._call(run, str(op).lower(), lambda: self.link.api.report(run.id, op), None)
            return
        try:
            self.link.api.report(run.id, op)
        except ApiError as exc:
            if not self._refused(run, "exec state", exc):
                log.warning("cannot report exec state %s: %s", op["ExecState"], exc)

    def _refused(self, run: TaskRun, what: str, exc: ApiError) -> bool:
        """A best-effort report's 401 (the worker is gone) or 404 (the task is no longer ours), acted on."""
        if exc.status == 401:
            self.link.control.on_gone(f"{what}: 401", removal_in(exc))
        elif exc.status == 404:
            log.warning("task %s is no longer ours (404 on %s)", run.uuid, what)
            run.stop(StopReason.LOST)
        return exc.status in (401, 404)
