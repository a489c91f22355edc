"""Helpers for tests: ports, waiting for servers, passwords on the wire, live coordinator processes."""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
TEST_JWT_SECRET = "test-jwt-secret-for-the-suite-only-0123456789"


def md5_list(password: str) -> list[int]:
    """The wire form of a password: the 16 MD5 bytes as a list of ints."""
    return list(hashlib.md5(password.encode()).digest())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@contextmanager
def moto_s3() -> Iterator[str]:
    """A moto S3 server over real HTTP on a free port, starting empty; yields its URL.

    moto keeps its buckets in process-wide state that outlives a server, so without the reset a test
    would see the objects an earlier test (in this process) left behind.
    """
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    try:
        httpx.post(f"{url}/moto-api/reset", timeout=10).raise_for_status()
        yield url
    finally:
        server.stop()


def coordinator_env(db_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MITO_")}
    env.update(
        MITO_DB_URL=db_url,
        MITO_DATA_DIR=str(data_dir),
        MITO_JWT_SECRET=TEST_JWT_SECRET,
        MITO_SHUTDOWN_SECRET="test-shutdown-secret",
        # The suite is a development install on PostgreSQL: its bootstrap admin keeps the documented default
        # password, which production mode (on with PostgreSQL) refuses (tests/app/test_production.py).
        MITO_PRODUCTION="0",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


class LiveCoordinator:
    """A `mito coordinator` subprocess on a free port."""

    def __init__(self, db_url: str, data_dir: Path, processes: int = 1, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / f"coordinator-{self.port}.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        env.setdefault("MITO_PUBLIC_URL", self.url)
        self.env = coordinator_env(db_url, data_dir, **env)
        self.processes = processes
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 120.0) -> LiveCoordinator:
        """Start the process and wait until /health answers (a loaded machine takes a minute or two)."""
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mito", "coordinator", "--bind", f"127.0.0.1:{self.port}",
             "--no-migrate", "--workers", str(self.processes)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT),
        )  # fmt: skip
        try:
            wait_for_http(self.url + "/health", timeout=timeout, proc=self.proc)
        except BaseException:
            self.stop()  # never leave a coordinator behind that goes on writing to the test database
            raise
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (e.g. gunicorn's master and workers)."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except FileNotFoundError:
            continue
        total += next(
            int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:")
        )
        todo += [int(c) for c in children]
    return total


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within `timeout` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def captured_logs(program: str, fmt: str):
    """Log this process's records into a StringIO (mito.logs format `fmt`); restore the root logger after."""
    from mito import logs

    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    buffer = io.StringIO()
    logs.configure(program, fmt=fmt, stream=buffer)
    try:
        yield buffer
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
        logs.set_process(worker=None)


def db_snapshot(app) -> dict[str, list[tuple]]:
    """Every row of every table, for asserting that a refused request changed nothing."""
    import sqlalchemy as sa

    from app import db
    from app.db import Base

    with app.app_context():
        snapshot = {}
        for table in Base.metadata.sorted_tables:
            rows = db.session.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
            snapshot[table.name] = [tuple(row) for row in rows]
        db.session.remove()
        return snapshot


def local_path(url: str) -> str:
    """The path and query of a signed local-store URL, for the Flask test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


class CountingProxy:
    """An HTTP proxy in a thread in front of `target` that counts the requests it forwards, by (method, path).

    Tests of the agent protocol point agents at `url` and read `count(...)` (requests per task).
    """

    def __init__(self, target: str):
        import collections
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.counts: collections.Counter[tuple[str, str]] = collections.Counter()
        self._lock = threading.Lock()
        upstream = httpx.Client(base_url=target, timeout=60)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy._lock:
                    proxy.counts[(self.command, self.path.split("?")[0])] += 1
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                resp = upstream.request(self.command, self.path, content=body, headers=headers)
                self.send_response(resp.status_code)
                for key, value in resp.headers.items():
                    if key.lower() not in (
                        "content-length",
                        "transfer-encoding",
                        "connection",
                        "content-encoding",
                    ):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

            do_GET = do_POST = do_PUT = do_DELETE = _forward

            def log_message(self, format: str, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._upstream = upstream
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def count(self, method: str, path: str) -> int:
        """How many `method path` requests went through so far."""
        with self._lock:
            return self.counts[(method, path)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._upstream.close()


def wait_until(predicate, timeout: float = 60.0, interval: float = 0.2, what: str = "condition", procs=None):
    """Poll `predicate` until it is true; fail at once if one of `procs` (CeleryProcesses) has died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if procs is not None and not procs.alive():
            raise RuntimeError(f"a Celery process exited while waiting for {what}:\n{procs.logs()}")
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"{what} not reached within {timeout}s")
