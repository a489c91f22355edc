"""A `mito standalone` process for tests: start, read its console, find its agents, stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.helpers import free_port, wait_for_http


def standalone_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MITO_")}
    env.update(extra)
    return env


class Standalone:
    """`mito standalone` in `cwd` with its data under `data_dir`; console output in `console`."""

    def __init__(self, tmp: Path, *args: str, port=None, bind_flag=True, env=None, mito=None, cwd=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cwd = cwd or tmp
        self.console = tmp / f"console-{time.monotonic_ns()}.log"
        self.cmd = [*(mito or [sys.executable, "-m", "mito"]), "standalone"]
        if cwd is None:
            self.data_dir = tmp / "data"
            self.cmd += ["--data-dir", str(self.data_dir)]
        else:  # the default: ./mito-data in the working directory
            self.data_dir = cwd / "mito-data"
        if bind_flag:
            self.cmd += ["--bind", f"127.0.0.1:{self.port}"]
        self.cmd += list(args)
        self.env = env or standalone_env()
        self.proc: subprocess.Popen | None = None

    def start(self, wait: bool = True) -> Standalone:
        out = self.console.open("ab")
        self.proc = subprocess.Popen(
            self.cmd, env=self.env, cwd=self.cwd, stdout=out, stderr=subprocess.STDOUT
        )
        out.close()
        if wait:
            try:
                wait_for_http(self.url + "/health", timeout=90, proc=self.proc)
                self.wait_for("Press Ctrl-C to stop.")
            except BaseException:
                self.stop()  # a standalone that did not come up is not left running
                raise
        return self

    def output(self) -> str:
        return self.console.read_text(errors="replace") if self.console.exists() else ""

    def logs(self) -> str:
        """The console and the tails of the coordinator and agent logs, for failure messages."""
        parts = [f"--- console\n{self.output()}"]
        for path in sorted((self.data_dir / "logs").glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-30:]
            parts.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def wait_for(self, text: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert time.monotonic() < deadline, f"{text!r} not on the console\n{self.logs()}"
            assert self.proc.poll() is None, f"standalone exited with {self.proc.returncode}\n{self.logs()}"
            time.sleep(0.2)

    def agent_pids(self) -> list[int]:
        """The pids of this standalone's `mito worker` children (from /proc)."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                cmdline = (stat.parent / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid and b"worker" in cmdline:
                pids.append(int(stat.parent.name))
        return pids

    def stop(self) -> int:
        """Ctrl-C, then the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                return self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()

    def __enter__(self) -> Standalone:
        return self.start()

    def __exit__(self, *exc) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.stop()
