"""The processes of one standalone install: the listening socket, the coordinator child, the local agent.

The supervisor binds the coordinator's socket itself and hands it to the coordinator child (gunicorn's
`fd://` bind), so a busy port fails at once and whatever answers on that port is our own coordinator: a
local agent can never register on another instance. `--workers N` is one agent process with N slots
(`mito worker --slots N`: N workers to the coordinator, N tasks at once). The agent gets a user token minted
here for the bootstrap admin (written to its credential file, mode 0600), never the admin's password, so a
password change does not strand it; an agent that exits for any reason is restarted with backoff.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import httpx

from app.errors import DomainError
from client.credentials import Credential, CredentialCache
from mito import logs

log = logging.getLogger("mito.standalone")

STOP_TIMEOUT = 30.0
BACKOFF_MAX = 60.0
STABLE_AFTER = 30.0  # an agent that ran this long before exiting starts its backoff afresh


def listen(bind: str) -> socket.socket:
    """A listening TCP socket on HOST:PORT that child processes can inherit; a busy port fails at once."""
    host, _, port = bind.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    try:
        family = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"cannot listen on {bind}: {exc}") from exc
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, int(port)))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = "address already in use" if exc.errno == errno.EADDRINUSE else exc.strerror or str(exc)
        raise click.ClickException(f"cannot listen on {bind}: {reason}") from exc
    sock.set_inheritable(True)
    return sock


def local_url(bind: str) -> str:
    """The URL at which this machine reaches a coordinator bound to `bind`."""
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def write_agent_credentials(path: Path, coordinator: str, username: str, token: str) -> None:
    """Put the token in the agent's credential cache (the shared format, mode 0600); the agent reuses it
    while /auth accepts it."""
    CredentialCache(path).save(Credential(username, token, coordinator))


@dataclass
class LocalAgent:
    """One local agent: its process (None while waiting to restart) and its restart backoff."""

    name: str
    proc: subprocess.Popen | None = None
    pump: threading.Thread | None = None  # copies its output into its log file
    started: float = 0.0
    failures: int = 0
    restart_at: float = 0.0


class Supervisor:
    """The coordinator child, the in-process jobs and the agent children of one standalone install."""

    def __init__(
        self,
        settings: Mapping[str, Any],
        *,
        workers: int,
        agent_args: list[str],
        env: dict[str, str],
        mint_token: Callable[[], str],
    ):
        self.settings = dict(settings)
        self.data_dir = Path(settings["DATA_DIR"])
        self.log_dir = self.data_dir / "logs"
        self.url = local_url(settings["BIND"])
        self.env = env
        self.mint_token = mint_token
        self.coordinator: subprocess.Popen | None = None
        self.coordinator_pump: threading.Thread | None = None
        # one process, `workers` slots (each a worker to the coordinator); a list, so none is a case too
        self.agents = [LocalAgent("agent-1")] if workers else []
        self.agent_args = [*agent_args, "--slots", str(workers)]

    def _spawn(
        self, args: list[str], log_name: str, env: dict[str, str], **kw: Any
    ) -> tuple[subprocess.Popen, threading.Thread]:
        # A new session: the terminal's Ctrl-C reaches only us, so we can stop the children in order.
        proc = subprocess.Popen(
            [sys.executable, "-m", "mito", *args],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True, **kw,
        )  # fmt: skip
        # One writer per file (this process), so the file can be rotated safely.
        assert proc.stdout is not None  # stdout=PIPE
        return proc, logs.pump(proc.stdout, logs.rotating_log(self.log_dir / log_name, log_name))

    def start_coordinator(self, sock: socket.socket) -> None:
        """Start the coordinator on the socket we bound, and wait until it answers."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        fd = sock.fileno()
        self.coordinator, self.coordinator_pump = self._spawn(
            ["coordinator", "--bind", f"fd://{fd}", "--no-migrate"], "coordinator.log", self.env,
            pass_fds=(fd,),
        )  # fmt: skip
        wait_until_up(self.url + "/health", self.coordinator)

    def start_agent(self, slot: LocalAgent) -> None:
        """Mint the agent's credential and start it; a failure is reported and retried with backoff."""
        workdir = self.data_dir / "agents"
        credentials = workdir / f"{slot.name}.credentials.json"
        env = dict(self.env)
        env.pop("MITO_PASSWORD", None)  # never the admin password: the minted token is the credential
        env.pop("MITO_GROUPS", None)  # the standalone grants --groups itself (app/standalone/grants.py)
        env.update(
            MITO_USER=self.settings["ADMIN_USER"],
            MITO_WORK_DIR=str(workdir / slot.name),
            MITO_CREDENTIAL_PATH=str(credentials),
        )
        try:
            write_agent_credentials(credentials, self.url, self.settings["ADMIN_USER"], self.mint_token())
            slot.proc, slot.pump = self._spawn(
                ["worker", "--coordinator", self.url, *self.agent_args], f"{slot.name}.log", env
            )
        except (OSError, DomainError) as exc:  # no admin to mint for, no disk, no process: say so, retry
            self._schedule_restart(slot, f"{slot.name} cannot start: {exc}", error=True)
            return
        slot.started = time.monotonic()

    def start_agents(self) -> None:
        """Start every local agent."""
        for slot in self.agents:
            self.start_agent(slot)

    def poll(self) -> str | None:
        """Restart exited agents (with backoff); return why the install cannot go on, if it cannot."""
        if self.coordinator is not None and self.coordinator.poll() is not None:
            return (
                f"the coordinator exited with {self.coordinator.returncode} "
                f"(see {self.log_dir / 'coordinator.log'})"
            )
        now = time.monotonic()
        for slot in self.agents:
            if slot.proc is not None and slot.proc.poll() is not None:
                code, ran = slot.proc.returncode, now - slot.started
                slot.proc = None
                if ran >= STABLE_AFTER:
                    slot.failures = 0
                if slot.pump is not None:
                    slot.pump.join(timeout=2)  # its last words reach the file before we quote them
                tail = last_line(self.log_dir / f"{slot.name}.log")
                self._schedule_restart(
                    slot,
                    f"{slot.name} exited with status {code} after {ran:.0f}s" + (f": {tail}" if tail else ""),
                    error=ran < STABLE_AFTER,
                )
            elif slot.proc is None and now >= slot.restart_at:
                log.info("restarting %s", slot.name)
                self.start_agent(slot)
        return None

    def _schedule_restart(self, slot: LocalAgent, why: str, *, error: bool) -> None:
        slot.failures += 1
        delay = min(BACKOFF_MAX, 2.0 ** (slot.failures - 1))
        slot.restart_at = time.monotonic() + delay
        log.log(logging.ERROR if error else logging.WARNING, "%s; restarting in %gs", why, delay)

    def stop_agents(self) -> int:
        """Stop the agents (they unregister); returns how many had to be killed."""
        killed = sum(_terminate(slot.proc) for slot in self.agents if slot.proc is not None)
        _join([slot.pump for slot in self.agents])
        return killed

    def stop_coordinator(self) -> int:
        """Stop the coordinator (in-flight requests finish); returns 1 if it had to be killed."""
        killed = _terminate(self.coordinator) if self.coordinator is not None else 0
        _join([self.coordinator_pump])
        return killed


def last_line(path: Path) -> str:
    """The last non-empty line of a log file (what an agent said before it exited)."""
    try:
        with path.open("rb") as fh:
            fh.seek(max(0, path.stat().st_size - 4096))
            lines = [ln for ln in fh.read().decode(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1].strip() if lines else ""


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Poll `url` until it answers; fail early if `proc` dies."""
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


def _join(pumps: list[threading.Thread | None]) -> None:
    for pump in pumps:  # the children are gone: let their last lines reach the files
        if pump is not None:
            pump.join(timeout=5)


def _terminate(proc: subprocess.Popen) -> int:
    """SIGTERM the child, SIGKILL it after STOP_TIMEOUT, then whatever it left in its process group;
    returns 1 if the child had to be killed."""
    killed = 0
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            killed = 1
    # Each child leads its own group (start_new_session): a coordinator killed with SIGKILL leaves its
    # gunicorn workers there, holding the port.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    return killed
