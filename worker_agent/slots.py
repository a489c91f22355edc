"""`mito worker --slots N`: N tasks at once in one agent process, each slot registered as a worker of its own.

To the coordinator a slot is an ordinary worker (one task at a time, the same permission rules); in this
process it is one Agent (worker_agent/agent.py) serving in a thread of its own. The slots share:
- the host's gate (worker_agent/gate.py): slot 0 alone carries the tag `exclusive`, and a task with that tag
  waits until the other slots are idle and keeps them from fetching until it ends;
- one watchdog process (task groups die with the agent, however it dies);
- the signal handler: SIGTERM or SIGINT stops every slot (each hands its task back and unregisters), a
  second signal exits at once.

`lay_out` gives each slot its settings: `--gpus` shared out evenly (the slot's tasks see its devices in
CUDA_VISIBLE_DEVICES; every slot gets the tag `gpu`), `--cpus-per-slot K` K cores of those this process may
use (the slot's thread is pinned to them, and the commands it starts inherit the mask).

One slot's trouble stays its own: a crashing task is one slot's task, and a slot whose worker the
coordinator removes without being asked (heartbeat timeout, task overrun) registers again after a pause,
while the others go on. A single-slot agent exits instead (status 75), as a plain agent always has. Each
slot sends its own heartbeats: an idle agent makes N times the requests of one slot (docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import threading
from pathlib import Path
from types import FrameType

import httpx

from mito import logs
from mito.vocab import EXCLUSIVE_TAG, GPU_TAG
from worker_agent.agent import Agent
from worker_agent.config import WorkerConfig
from worker_agent.control import EXIT_REMOVED
from worker_agent.gate import HostGate
from worker_agent.task import WorkerGone
from worker_agent.watchdog import Watchdog

log = logging.getLogger("mito.worker")

REREGISTER_PAUSE = (1.0, 60.0)  # a removed slot registers again after 1 s, doubling up to 60 s


def usable_cpus() -> list[int] | None:
    """The cores this process may run on, or None where the OS does not say (no sched_getaffinity)."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    return sorted(os.sched_getaffinity(0))


def lay_out(config: WorkerConfig, cpus: list[int] | None = None) -> list[WorkerConfig]:
    """Each slot's settings; ValueError when the host has fewer cores than the slots ask for."""
    n = config.slots
    per_gpu = len(config.gpus) // n
    per_cpu = config.cpus_per_slot
    if per_cpu is not None and cpus is not None and per_cpu * n > len(cpus):
        raise ValueError(
            f"--cpus-per-slot {per_cpu} with {n} slots needs {per_cpu * n} cores; "
            f"this process may use {len(cpus)} ({','.join(map(str, cpus))})"
        )
    slots = []
    for i in range(n):
        tags = [t for t in config.tags if t != EXCLUSIVE_TAG]
        if config.gpus and GPU_TAG not in tags:
            tags.append(GPU_TAG)
        if i == 0:
            tags.append(EXCLUSIVE_TAG)
        env = {}
        if config.gpus:
            env["CUDA_VISIBLE_DEVICES"] = ",".join(config.gpus[i * per_gpu : (i + 1) * per_gpu])
        mine = cpus[i * per_cpu : (i + 1) * per_cpu] if per_cpu and cpus is not None else None
        slots.append(dataclasses.replace(config, tags=tags, task_env=env, cpus=mine))
    return slots


class Slots:
    """The slots of one agent process: register them, serve each in a thread, stop them together."""

    def __init__(self, config: WorkerConfig, *, transport: httpx.Client | None = None):
        cpus = usable_cpus()
        if config.cpus_per_slot and cpus is None:
            log.warning("--cpus-per-slot: this OS does not let a process pin its tasks to cores; ignored")
        self.configs = lay_out(config, cpus)
        self._transport = transport
        self.gate = HostGate()
        self.watchdog = Watchdog()
        self.agents: list[Agent] = []
        self.stopping = threading.Event()
        self._codes: dict[int, int] = {}

    def _agent(self, slot: int) -> Agent:
        agent = Agent(
            self.configs[slot], transport=self._transport, slot=slot, gate=self.gate, watchdog=self.watchdog
        )
        if slot < len(self.agents):
            self.agents[slot] = agent
        else:
            self.agents.append(agent)
        if self.stopping.is_set():
            agent.control.stopping.set()
        return agent

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT reach every slot (worker_agent/control.py says what each one does)."""
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        """The signal handler: stop every slot; a second signal exits at once (the watchdog ends the rest)."""
        self.stopping.set()
        for agent in list(self.agents):
            agent.control.on_signal(signum, frame)

    def run(self) -> int:
        """Register every slot, serve until all have stopped; the exit code (the worst of the slots')."""
        self.watchdog.start()
        try:
            registered: list[tuple[Agent, Path]] = []
            for slot in range(len(self.configs)):
                agent = self._agent(slot)
                try:
                    registered.append((agent, agent.start()))
                except WorkerGone as exc:
                    log.error("cannot register slot %d: %s", slot, exc)
                    for other, _ in registered:
                        other.shutdown()
                    return 1
            threads = [
                threading.Thread(target=self._serve, args=(slot, agent, work_dir), name=f"slot-{slot}")
                for slot, (agent, work_dir) in enumerate(registered)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.5)  # short joins: the main thread must stay free for the signal handler
        finally:
            self.watchdog.close()
        return max(self._codes.values(), default=0)

    def _serve(self, slot: int, agent: Agent, work_dir: Path) -> None:
        """One slot's thread: serve; registered again when the coordinator removed it unasked."""
        self._codes[slot] = 1  # until the slot says otherwise: a slot that died of an error failed
        cpus = self.configs[slot].cpus
        if cpus:
            os.sched_setaffinity(0, cpus)  # this thread only; the commands it starts inherit the mask
        pause = REREGISTER_PAUSE[0]
        with logs.bound(slot=slot, worker=agent.worker_id):
            code = agent.serve(work_dir)
        while code == EXIT_REMOVED and len(self.configs) > 1 and not self.stopping.is_set():
            log.warning("slot %d: its worker was removed; registering it again in %gs", slot, pause)
            if self.stopping.wait(pause):
                break
            pause = min(pause * 2, REREGISTER_PAUSE[1])
            agent = self._agent(slot)
            with logs.bound(slot=slot):
                code = agent.run()
        self._codes[slot] = code
