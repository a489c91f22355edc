"""The worker agent: register, then fetch tasks and hand each to the conductor until told to stop.

The parts, one concern each: session.py (login, token cache, registration), heartbeat.py (the heartbeat
thread), notices.py (the coordinator's notices on Redis), control.py (signals, cancels, a refused worker,
the exit code), watchdog.py (task groups die with the agent), announce.py (exec states to Redis and the
coordinator), link.py with backoff.py (calls to the coordinator and their retries), conductor.py with
steps.py (one task, step by step), runner.py (the process group) and workspace.py (the task's files).
Everything about one task lives in its TaskRun and the control tracks runs by uuid. Several tasks at once
(`--slots N`) are N of these agents in one process, one per slot, each registered as its own worker and
sharing the host's gate and watchdog (worker_agent/slots.py).
"""

from __future__ import annotations

import logging
import random
import shutil
from pathlib import Path
from typing import Any

import httpx

from client.http import ApiError, HttpClient
from client.worker_api import WorkerApi
from mito import logs
from mito.vocab import EXCLUSIVE_TAG, WorkerFeature
from worker_agent import steps
from worker_agent.announce import Announcer, connect_redis
from worker_agent.backoff import Backoff
from worker_agent.conductor import AgentContext, Conductor
from worker_agent.config import WorkerConfig, user_cache_dir
from worker_agent.control import Control
from worker_agent.gate import HostGate
from worker_agent.heartbeat import Heartbeat
from worker_agent.link import Link
from worker_agent.notices import NoticeListener
from worker_agent.outbox import Outbox
from worker_agent.session import Session
from worker_agent.task import WorkerGone
from worker_agent.watchdog import Watchdog

log = logging.getLogger("mito.worker")


def backoff_for(config: WorkerConfig) -> Backoff:
    """Retries start fast and wait at most between 1 s and 10 s, scaled by the polling interval."""
    return Backoff(
        first=min(0.5, config.polling_interval), cap=min(10.0, max(1.0, 5 * config.polling_interval))
    )


class Agent:
    """One worker: its session, its heartbeat, its fetch loop, its conductor.

    A slot of a larger agent passes its `slot` number, the host's `gate` and the shared `watchdog`.
    """

    def __init__(
        self,
        config: WorkerConfig,
        *,
        transport: httpx.Client | None = None,
        slot: int | None = None,
        gate: HostGate | None = None,
        watchdog: Watchdog | None = None,
    ):
        self.config = config
        self.slot = slot
        self.gate = gate or HostGate()
        self._transport = transport
        self.control = Control()
        self.stopping, self.forced = self.control.stopping, self.control.forced
        api = WorkerApi(HttpClient(config.coordinator, transport=transport, lean=True))
        self.link = Link(api, backoff_for(config), self.control)
        self.session = Session(config, self.link)
        self.outbox = Outbox(self.link, delay=config.report_delay)
        self.announcer = Announcer(self.outbox)
        files = transport or httpx.Client()  # presigned object-store URLs
        self._own_watchdog = watchdog is None
        self.watchdog = watchdog or Watchdog()
        ctx = AgentContext(
            config, self.link, self.announcer, self.control, files, self.watchdog, wants_next=self._wants_next
        )
        self.conductor = Conductor(ctx, steps.STEPS, steps.FIRST)
        self.worker_id: str | None = None
        self.work_dir: Path | None = None

    def run(self) -> int:
        """Serve until stopped; return the process exit code (Control.exit_code)."""
        try:
            work_dir = self.start()
        except WorkerGone as exc:
            log.error("cannot register: %s", exc)
            return 1
        return self.serve(work_dir)

    def serve(self, work_dir: Path) -> int:
        """Once registered: heartbeat, listen and fetch until stopped; return the exit code."""
        heartbeat_api = WorkerApi(
            HttpClient(
                self.config.coordinator, self.link.api.http.token, transport=self._transport, lean=True
            )
        )
        heartbeat = Heartbeat(heartbeat_api, self.control, self.config.heartbeat_interval)
        heartbeat.start()
        listener = None
        if self.announcer.redis is not None and self.worker_id is not None:
            listener = NoticeListener(self.announcer.redis, self.worker_id, self.control)
            listener.start()
        if self._own_watchdog:
            self.watchdog.start()
        self.outbox.start()
        try:
            self.fetch_loop(work_dir)
        finally:
            self.outbox.close()
            heartbeat.done.set()
            if listener is not None:
                listener.done.set()
            self.shutdown()
            self.announcer.close()
            if self._own_watchdog:
                self.watchdog.close()
        return self.control.exit_code()

    def start(self) -> Path:
        """Register; return this worker's work directory."""
        cfg = self.config
        reg = self.session.register()
        self.worker_id = reg.worker_id
        if self.slot is None:  # a slot's lines carry its worker from its own thread (worker_agent/slots.py)
            logs.set_process(worker=reg.worker_id)
        self.work_dir = (cfg.work_dir or user_cache_dir()) / reg.worker_id
        self.work_dir.mkdir(parents=True, exist_ok=True)
        slot = "" if self.slot is None else f" for slot {self.slot}"
        log.info(
            "registered worker %s%s at %s (tags=%s groups=%s labels=%s)", reg.worker_id, slot,
            cfg.coordinator, ",".join(cfg.tags), ",".join(reg.groups), ",".join(cfg.labels),
        )  # fmt: skip
        self.announcer.redis = connect_redis(reg.redis_url, skip=cfg.skip_redis)
        self.outbox.batched = cfg.batch_reports and WorkerFeature.ReportBatch in reg.features
        if self.outbox.batched:
            log.info("report ops batched (report_batch): a commit claims the next task")
        return self.work_dir

    def fetch_loop(self, work_dir: Path) -> None:
        """Claim tasks one at a time and run each, until the agent stops (or a task holds the host)."""
        stopping = self.control.stopping
        while not stopping.is_set() and self.gate.enter(stopping):
            try:
                pause = self.fetch_and_run(work_dir)
            except WorkerGone:
                return
            finally:
                self.gate.leave()
            if pause:
                stopping.wait(pause)

    def fetch_and_run(self, work_dir: Path) -> float:
        """Claim one task and run it, then each task its commit claimed (report_batch); return how long
        to wait before the next fetch."""
        stopping = self.control.stopping
        try:
            task = self.link.call("fetch", self.link.api.fetch, interrupt=stopping)
        except ApiError as exc:
            if stopping.is_set():
                return 0.0
            log.warning("fetch failed: %s", exc)
            return self.config.polling_interval
        if task is None:
            return self.config.polling_interval * random.uniform(0.8, 1.2)  # noqa: S311
        next_task: dict[str, Any] | None = task
        while next_task is not None:
            next_task = self._run(next_task, work_dir)
        return 0.0

    def _run(self, task: dict[str, Any], work_dir: Path) -> dict[str, Any] | None:
        """Run one claimed task (exclusive ones with the host to themselves); return the next one, if any."""
        if EXCLUSIVE_TAG in (task.get("tags") or []):
            with self.gate.hold(task["uuid"], self.control.stopping):
                return self.conductor.execute(task, work_dir)
        return self.conductor.execute(task, work_dir)

    def _wants_next(self) -> bool:
        """Whether a commit may claim the next task: not when stopping, nor while an exclusive task waits
        for the host (this slot must go idle for it)."""
        return not self.control.stopping.is_set() and not self.gate.held

    def shutdown(self) -> None:
        """Unregister (unless the coordinator already removed this worker) and remove the work directory."""
        if not self.control.forced.is_set():
            try:
                self.link.api.unregister()
                log.info("unregistered worker %s", self.worker_id)
            except ApiError as exc:
                log.warning("unregister failed: %s", exc)
        if self.work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)
        log.info("worker %s exited", self.worker_id)
