"""The heartbeat thread: tells the coordinator the worker is alive and passes user cancels on."""

from __future__ import annotations

import logging
import threading

from client.http import ApiError
from client.worker_api import WorkerApi
from worker_agent.control import Control, removal_in

log = logging.getLogger("mito.worker")


class Heartbeat(threading.Thread):
    """Every `interval` seconds until `done` is set: one heartbeat; a 401 ends the agent."""

    def __init__(self, api: WorkerApi, control: Control, interval: float):
        super().__init__(name="heartbeat", daemon=True)
        self.api = api  # its own client: the main thread keeps using the other one meanwhile
        self.control = control
        self.interval = interval
        self.done = threading.Event()

    def run(self) -> None:
        """The thread's loop."""
        while not self.done.wait(self.interval):
            try:
                cancel = self.api.heartbeat()
            except ApiError as exc:
                if exc.status == 401:
                    self.control.on_gone("heartbeat: 401", removal_in(exc))
                    return
                log.warning("heartbeat failed: %s", exc)
                continue
            for uuid in cancel:
                self.control.cancel(uuid)
