"""Real agents for integration tests: `python -m mito worker` subprocesses with short intervals."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from client.sdk import Mitosis
from tests.helpers import ROOT, stop_process


class Agent:
    """One real `mito worker` subprocess serving its user's personal group."""

    def __init__(
        self, url: str, tmp: Path, user: str, password: str, sdk: Mitosis, *args: str, **extra_env: str
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith("MITO_")}
        env.update(
            MITO_POLLING_INTERVAL="0.2s", MITO_HEARTBEAT_INTERVAL="0.5s", MITO_KILL_GRACE="1s",
            MITO_WORK_DIR=str(tmp / "work"), MITO_CREDENTIAL_PATH=str(tmp / "cred.json"),
            MITO_CONFIG=str(tmp / "none.toml"), PYTHONUNBUFFERED="1",
        )  # fmt: skip
        env.update(extra_env)
        self.log_path = tmp / "agent.log"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mito", "worker", "--coordinator", url,
                 "--user", user, "--password", password, "--groups", user, *args],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT),
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while not sdk.query_workers(group_name=user)["workers"]:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()  # an agent that did not register is not left running
                raise RuntimeError(f"the agent did not register:\n{self.log_path.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        stop_process(self.proc)
