"""Real processes for integration tests: `celery -A app.jobs worker` and `beat`, a private redis-server."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import redis

from tests.helpers import ROOT, coordinator_env, free_port, stop_process, wait_until


class CeleryProcesses:
    """One `celery -A app.jobs worker` and one `beat` on the test database and the given broker."""

    def __init__(self, db_url: str, workdir: Path, broker_url: str, **env: str):
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.env = coordinator_env(db_url, workdir, MITO_BROKER_URL=broker_url, **env)
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, *, beat: bool = True, quiet: bool = False) -> CeleryProcesses:
        """Start the worker (and beat); `quiet` drops the start-up banner, as for MITO_LOG_FORMAT=json."""
        name = f"mito-test-{free_port()}@localhost"
        self._quiet = ["--quiet"] if quiet else []
        self._spawn("worker", ["worker", "--pool", "threads", "--concurrency", "2", "--loglevel", "INFO",
                               "--without-mingle", "--without-gossip", "-n", name])  # fmt: skip
        if beat:
            self._spawn("beat", ["beat", "--loglevel", "INFO", "--max-interval", "1",
                                 "--schedule", str(self.workdir / "beat-schedule")])  # fmt: skip
        return self

    def _spawn(self, name: str, args: list[str]) -> None:
        log = (self.workdir / f"celery-{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "celery", *getattr(self, "_quiet", []), "-A", "app.jobs", *args],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT),
        )  # fmt: skip

    def log(self, name: str) -> str:
        path = self.workdir / f"celery-{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{self.log(name)[-4000:]}" for name in self.procs)

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.procs.values())

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            stop_process(proc)


class RedisServer:
    """A private redis-server on a free port (never the machine's shared one), stoppable and restartable."""

    def __init__(self, workdir: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server") or "redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self.answers, timeout=20, what="redis-server")
        return self

    def answers(self) -> bool:
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)
            self.proc = None
