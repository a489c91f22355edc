"""Helpers for tests: ports, waiting for servers, passwords on the wire, live coordinator processes."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

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


def coordinator_env(db_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MITO_")}
    env.update(
        MITO_DB_URL=db_url,
        MITO_DATA_DIR=str(data_dir),
        MITO_JWT_SECRET=TEST_JWT_SECRET,
        MITO_SHUTDOWN_SECRET="test-shutdown-secret",
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

    def start(self) -> LiveCoordinator:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mito", "coordinator", "--bind", f"127.0.0.1:{self.port}",
             "--no-migrate", "--workers", str(self.processes)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT),
        )  # fmt: skip
        wait_for_http(self.url + "/health", proc=self.proc)
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


def make_worker(app, creator: str, groups: dict[str, str] | None = None, lifetime: int = 3600) -> str:
    """Insert a worker row for `creator` with roles {group: "Read"|"Write"|"Admin"}; return a worker token."""
    from datetime import UTC, datetime, timedelta

    import sqlalchemy as sa

    from app import auth, db
    from app.models import Group, GroupWorker, Role, User, Worker

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == creator))
        worker = Worker(
            creator_id=user.id, tags=[], labels=[], expires_at=datetime.now(UTC) + timedelta(seconds=lifetime)
        )
        db.session.add(worker)
        db.session.flush()
        for name, role in (groups or {}).items():
            group = db.session.scalar(sa.select(Group).where(Group.group_name == name))
            db.session.add(GroupWorker(group_id=group.id, worker_id=worker.id, role=Role[role]))
        db.session.commit()
        token = auth.issue_worker_token(worker, lifetime)
        db.session.remove()
        return token
