"""`mito standalone`: a complete installation on one machine with nothing but Python.

One process supervises:
- the coordinator (`mito coordinator`, i.e. app/server.py under gunicorn) as a child process;
- the housekeeping jobs, in this process (`app.jobs.inprocess.start(app)`), on the embedded default;
- N local worker agents (`mito worker`), logged in as the bootstrap admin, serving its personal group.

Everything lives under the data directory: the SQLite database, the local-disk object store, the JWT secret
and the logs, so a restart keeps all data. Ctrl-C (SIGINT) or SIGTERM stops the agents first (they
unregister), then the jobs, then the coordinator.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

log = logging.getLogger(__name__)

# Settings the standalone mode decides itself: the embedded default, whatever the environment says.
EMBEDDED = ("DB_URL", "REDIS_URL", "REDIS_WORKER_URL", "REDIS_CLIENT_URL", "BROKER_URL", "S3_URL")
STOP_TIMEOUT = 30.0


def embedded_settings(data_dir: Path, bind: str) -> dict[str, Any]:
    """The overrides that make an install self-contained under `data_dir`."""
    data_dir = data_dir.resolve()
    host, _, port = bind.rpartition(":")
    public_host = "127.0.0.1" if host in ("", "0.0.0.0", "::", "[::]") else host
    return {
        "DATA_DIR": str(data_dir),
        "DB_URL": f"sqlite:///{data_dir / 'mitosis.db'}",
        "BIND": bind,
        "PUBLIC_URL": f"http://{public_host}:{port}",
        "REDIS_URL": None,
        "REDIS_WORKER_URL": None,
        "REDIS_CLIENT_URL": None,
        "BROKER_URL": None,
        "S3_URL": None,
    }


def child_env(overrides: dict[str, Any], extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process: ours, minus external services, plus the overrides."""
    env = {k: v for k, v in os.environ.items() if not (k.startswith("MITO_") and k[5:] in EMBEDDED)}
    env.update({f"MITO_{k}": str(v) for k, v in overrides.items() if v is not None})
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def start_housekeeping(app) -> Callable[[], None]:
    """Run the housekeeping jobs in this process; returns the function that stops them."""
    try:
        from app.jobs import inprocess
    except ImportError:
        log.warning("housekeeping jobs are not available (app.jobs.inprocess missing): running without them")
        return lambda: None
    handle = inprocess.start(app)
    return handle.stop


class Supervisor:
    """The coordinator child, the in-process jobs and the agent children of one standalone install."""

    def __init__(self, data_dir: Path, bind: str, workers: int, polling_interval: str = "1s"):
        self.data_dir = data_dir.resolve()
        self.bind = bind
        self.workers = workers
        self.polling_interval = polling_interval
        self.overrides = embedded_settings(self.data_dir, bind)
        self.url = self.overrides["PUBLIC_URL"]
        self.log_dir = self.data_dir / "logs"
        self.coordinator: subprocess.Popen | None = None
        self.agents: list[subprocess.Popen] = []
        self.stop_jobs: Callable[[], None] = lambda: None
        self.settings: dict[str, Any] = {}

    def _spawn(self, args: list[str], log_name: str, env: dict[str, str]) -> subprocess.Popen:
        out = (self.log_dir / log_name).open("ab")
        # A new session: the terminal's Ctrl-C reaches only us, so we can stop the children in order.
        return subprocess.Popen(
            [sys.executable, "-m", "mito", *args],
            env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def start(self) -> None:
        from app import create_app
        from app.server import prepare

        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.overrides.setdefault(
            "SHUTDOWN_SECRET", os.environ.get("MITO_SHUTDOWN_SECRET") or secrets.token_urlsafe(16)
        )
        self.settings = prepare(self.overrides)  # migrates the database
        app = create_app(self.overrides)  # bootstraps the admin before any child starts
        env = child_env(self.overrides)
        self.coordinator = self._spawn(
            ["coordinator", "--bind", self.bind, "--no-migrate"], "coordinator.log", env
        )
        wait_until_up(self.url + "/health", self.coordinator)
        self.stop_jobs = start_housekeeping(app)
        for i in range(self.workers):
            agent_env = child_env(
                self.overrides,
                {
                    "MITO_USER": self.settings["ADMIN_USER"],
                    "MITO_PASSWORD": self.settings["ADMIN_PASSWORD"],
                    "MITO_POLLING_INTERVAL": self.polling_interval,
                    "MITO_WORK_DIR": str(self.data_dir / "agents" / f"agent-{i + 1}"),
                    "MITO_CREDENTIAL_PATH": str(self.data_dir / "agents" / f"agent-{i + 1}.credentials.json"),
                },
            )
            self.agents.append(
                self._spawn(["worker", "--coordinator", self.url], f"agent-{i + 1}.log", agent_env)
            )

    def stop(self) -> int:
        """Stop agents, jobs, coordinator in that order; returns how many children had to be killed."""
        killed = sum(_terminate(p) for p in self.agents)
        self.stop_jobs()
        if self.coordinator is not None:
            killed += _terminate(self.coordinator)
        return killed

    def failed_child(self) -> str | None:
        if self.coordinator is not None and self.coordinator.poll() is not None:
            code = self.coordinator.returncode
            return f"the coordinator exited with {code} (see {self.log_dir / 'coordinator.log'})"
        return None


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Poll `url` until it answers; fail early if `proc` dies."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise click.ClickException(
                f"the coordinator exited with {proc.returncode} before answering {url}"
            )
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise click.ClickException(f"the coordinator did not answer {url} within {timeout:g}s")


def _terminate(proc: subprocess.Popen) -> int:
    if proc.poll() is not None:
        return 0
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
        return 0
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return 1


@click.command("standalone")
@click.option("--bind", default="127.0.0.1:5000", show_default=True, help="HOST:PORT of the coordinator.")
@click.option(
    "--workers", "workers", default=1, show_default=True, type=click.IntRange(0), help="Local agents."
)
@click.option(
    "--data-dir",
    envvar="MITO_DATA_DIR",
    default="./mito-data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Database, object store, secrets and logs (env MITO_DATA_DIR).",
)
@click.option("--polling-interval", default="1s", show_default=True, help="How often idle local agents poll.")
def standalone(bind: str, workers: int, data_dir: Path, polling_interval: str) -> None:
    """Run a complete Mitosis on this machine: coordinator, housekeeping and local agents (Ctrl-C stops)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("alembic", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    supervisor = Supervisor(data_dir, bind, workers, polling_interval)
    try:
        supervisor.start()
        s = supervisor.settings
        click.echo(
            f"Mitosis standalone is running at {supervisor.url}\n"
            f"  admin user:     {s['ADMIN_USER']}\n"
            f"  admin password: {s['ADMIN_PASSWORD']}\n"
            f"  data directory: {supervisor.data_dir}\n"
            f"  logs:           {supervisor.log_dir}\n"
            f"  local agents:   {workers}\n"
            f"Log in with:  mito --coordinator {supervisor.url} login {s['ADMIN_USER']}\n"
            "Press Ctrl-C to stop.",
        )
        failure = None
        while not stop.wait(1.0):
            failure = supervisor.failed_child()
            if failure:
                break
    finally:
        click.echo("Stopping: agents, housekeeping, coordinator ...", err=True)
        killed = supervisor.stop()
    if failure:
        raise click.ClickException(failure)
    click.echo("Stopped." + (f" ({killed} process(es) had to be killed)" if killed else ""))
