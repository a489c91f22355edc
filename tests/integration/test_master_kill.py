"""kill -9 of the gunicorn master (issue 12 item 3): its workers die with it, the port is free again and a
new coordinator binds it; a standalone whose coordinator was killed stops and leaves the port free.

Real processes: `mito coordinator` with two gunicorn workers, and `mito standalone`. Without the fix the
orphaned workers held the socket for their 30 s graceful timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.helpers import LiveCoordinator
from tests.integration.standalone import Standalone

pytestmark = pytest.mark.integration

FREED_WITHIN = 10.0  # seconds; the orphans used to hold the port for 30-38 s


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _wait(predicate, what: str) -> None:
    deadline = time.monotonic() + FREED_WITHIN
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not within {FREED_WITHIN:g}s"
        time.sleep(0.1)


def test_workers_die_with_a_killed_master_and_a_new_coordinator_binds(app, db_url, tmp_path):
    first = LiveCoordinator(db_url, tmp_path / "first", processes=2).start()
    second = None
    try:
        workers = _children(first.proc.pid)
        assert len(workers) == 2
        os.kill(first.proc.pid, signal.SIGKILL)
        first.proc.wait()
        _wait(lambda: not any(_alive(pid) for pid in workers), "the workers exiting")
        _wait(lambda: _port_free(first.port), "the port freed")
        second = LiveCoordinator(db_url, tmp_path / "second")
        second.port, second.url = first.port, first.url
        second.start()
    finally:
        for pid in _children(first.proc.pid) if first.proc.poll() is None else []:
            os.kill(pid, signal.SIGKILL)
        if second is not None:
            second.stop()


@pytest.mark.backend_independent
def test_a_standalone_whose_coordinator_was_killed_frees_the_port(tmp_path):
    install = Standalone(tmp_path, "--workers", "0").start()
    try:
        [coordinator] = [pid for pid in _children(install.proc.pid) if b"coordinator" in _cmdline(pid)]
        workers = _children(coordinator)
        os.kill(coordinator, signal.SIGKILL)
        assert install.proc.wait(timeout=60) != 0
        assert "the coordinator exited" in install.output()
        _wait(lambda: not any(_alive(pid) for pid in workers), "the coordinator's workers exiting")
        _wait(lambda: _port_free(install.port), "the port freed")
        again = Standalone(tmp_path, "--workers", "0", port=install.port).start()
        assert "Press Ctrl-C to stop." in again.output()
        again.proc.send_signal(signal.SIGINT)
        assert again.proc.wait(timeout=60) == 0
    finally:
        if install.proc.poll() is None:
            install.proc.kill()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
