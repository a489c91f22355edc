"""The `mito` CLI in real processes against a real coordinator and a real agent: what a person at a terminal
sees while a task runs, and how the commands end."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.helpers import ROOT

pytestmark = pytest.mark.integration

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


class Terminal:
    """A `mito` command on a pseudo-terminal (so rich sees a terminal), read as the screen would show it."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mito", *args],
            stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True,
        )  # fmt: skip
        os.close(slave)
        self.master = master
        self.raw = b""

    @property
    def text(self) -> str:
        """Everything shown so far, without terminal escapes."""
        return ANSI.sub("", self.raw.decode(errors="replace"))

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the command exited and closed the terminal
            data = b""
        self.raw += data
        return bool(data)

    def expect(self, pattern: str, timeout: float = 60) -> None:
        """Read until `pattern` (a regex) has been shown."""
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.text):
            if time.monotonic() > deadline or not self._read(0.2) and self.proc.poll() is not None:
                raise AssertionError(f"{pattern!r} never shown; the terminal showed:\n{self.text}")

    def finish(self, timeout: float = 60) -> int:
        """Read until the command exits; its exit code."""
        deadline = time.monotonic() + timeout
        while self._read(0.2) or self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(f"still running; the terminal showed:\n{self.text}")
        os.close(self.master)
        return self.proc.wait()


class User:
    """Runs `python -m mito ...` with a private config dir against one coordinator."""

    def __init__(self, url: str, home: Path):
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MITO_")}
        self.env.update(MITO_COORDINATOR_ADDR=url, MITO_CONFIG_DIR=str(home / "config"), PYTHONUNBUFFERED="1")

    def run(self, *args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "mito", *args],
            env=self.env, cwd=self.home, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert proc.returncode == 0, f"mito {' '.join(args)}: {proc.returncode}\n{proc.stdout}{proc.stderr}"
        return proc.stdout.strip()

    def terminal(self, *args: str) -> Terminal:
        return Terminal(list(args), dict(self.env, TERM="xterm-256color", COLUMNS="200"), self.home)

    @contextlib.contextmanager
    def agent(self, *tags: str) -> Iterator[None]:
        """A `mito worker` process logged in as the admin, for the block."""
        env = dict(
            self.env,
            MITO_WORK_DIR=str(self.home / "agent"),
            MITO_POLLING_INTERVAL="1s",
            MITO_HEARTBEAT_INTERVAL="1s",
        )
        log = (self.home / "agent.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "mito", "worker", "--user", ADMIN_USER, "--password", ADMIN_PASSWORD,
             "--tags", ",".join(tags)],
            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()


@pytest.fixture
def user(live_coordinator, tmp_path) -> User:
    person = User(live_coordinator.url, tmp_path)
    person.run("login", ADMIN_USER, ADMIN_PASSWORD)
    return person


def test_wait_on_a_terminal_shows_the_state_as_it_changes_and_exits_143_after_sigterm(user):
    # The task runs until the test has seen Running (a `sleep 2` could end between two of the 200 ms polls
    # on a loaded machine, and Running would never be shown).
    gate = user.home / "gate"
    held = f"until [ -e {gate} ]; do sleep 0.05; done; kill -TERM $$"
    uuid = user.run("tasks", "submit", "-t", "tty-wait", "--", "sh", "-c", held)
    waiting = user.terminal("tasks", "wait", uuid, "--interval", "200ms")
    waiting.expect(rf"{uuid} Ready \(after \d+s\)")
    waiting.expect(rf"{uuid} Ready, waited \d+s")  # the live line, refreshed while nothing changes
    with user.agent("tty-wait"):
        waiting.expect(rf"{uuid} Running \(after \d+s\)")
        gate.touch()
        code = waiting.finish()
    assert code == 143, waiting.text
    assert f"{uuid} Finished exit_status=-15" in waiting.text


def test_cancel_wait_returns_once_the_agent_has_stopped_the_running_task(user):
    uuid = user.run("tasks", "submit", "-t", "tty-cancel", "--", "sleep", "120")
    with user.agent("tty-cancel"):
        deadline = time.monotonic() + 60
        while json.loads(user.run("tasks", "get", uuid, "--json"))["info"]["state"] != "Running":
            assert time.monotonic() < deadline, "the agent never started the task"
            time.sleep(0.3)
        started = time.monotonic()
        said = user.run("tasks", "cancel", uuid, "--wait", "--interval", "200ms", "--timeout", "60s")
    assert said == f"{uuid} Cancelled exit_status=-15 (UserCancellation)"
    assert time.monotonic() - started < 60
    assert json.loads(user.run("tasks", "get", uuid, "--json"))["info"]["state"] == "Cancelled"
