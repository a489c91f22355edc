"""Agent protocol benchmark (not a test; issue #13 goals 1 and 2), each figure beside an in-run reference.

1. End-to-end no-op tasks (`true`) through real `mito worker` agents, with the report_batch extension and
   without it (one request per report op, as the spec has it), against the reference: the same number of
   no-op tasks through Celery + Redis (prefork, -c 2). Printed as tasks/s and ratio to the reference.
2. Claim+commit cycles over HTTP by simulated workers (the chained batch: one request per task in steady
   state), against the reference: a bare Flask + SQLAlchemy endpoint doing one claim (UPDATE ... RETURNING)
   under the same gunicorn settings. Printed as requests/s, ratio, and SQL statements per request (counted
   in-process on the same code path through the Flask test client).

    .venv/bin/python bench/protocol.py [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]
        [--tasks 500] [--agents 4] [--processes 2] [--sim-workers 8] [--seconds 15]

It creates (and drops) its own databases and starts its own coordinator, agents and Celery worker.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import drive_threads  # noqa: E402
from tests.helpers import TEST_JWT_SECRET, LiveCoordinator, free_port, stop_process, wait_for_http  # noqa: E402

USER, PASSWORD = "bench", "bench-password"
REDIS_URL = os.environ.get("MITO_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


class Database:
    """A throwaway PostgreSQL database."""

    def __init__(self, pg_url: str, suffix: str):
        from app.config import normalise_db_url

        self.name = f"mito_bench_{suffix}_{os.getpid()}"
        self.admin = sa.create_engine(normalise_db_url(pg_url), isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.name}"')
        self.url = normalise_db_url(pg_url.rsplit("/", 1)[0] + "/" + self.name)

    def drop(self) -> None:
        from app.db import dispose_engines

        dispose_engines()
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.admin.dispose()


class Mitosis:
    """The coordinator under test on its own database, with one user whose agents run the tasks."""

    def __init__(self, pg_url: str, processes: int, data_dir: Path):
        from app import auth, create_app, migrate
        from app.services import user as user_service

        self.db = Database(pg_url, "proto")
        migrate.upgrade(self.db.url)
        self.app = create_app(
            {
                "DB_URL": self.db.url,
                "JWT_SECRET": TEST_JWT_SECRET,
                "CONFIG_FILE": "/none",
                "LIVENESS_MARKER": False,
            }
        )
        with self.app.app_context():
            user = user_service.create_user(username=USER, md5_password=auth.md5_bytes(PASSWORD))
            self.user_headers = {"Authorization": f"Bearer {auth.issue_user_token(user)}"}
        self.data_dir = data_dir
        self.coordinator = LiveCoordinator(self.db.url, data_dir, processes=processes).start()
        self.http = httpx.Client(base_url=self.coordinator.url, headers=self.user_headers, timeout=300)

    def close(self) -> None:
        self.http.close()
        self.coordinator.stop()
        self.db.drop()

    def submit(self, count: int) -> None:
        item = {"group_name": USER, "tags": [], "labels": [], "timeout": "10m", "priority": 0,
                "task_spec": {"args": ["true"]}}  # fmt: skip
        for start in range(0, count, 1000):
            n = min(1000, count - start)
            self.http.post("/tasks/submit", json={"tasks": [item] * n}).raise_for_status()

    def finished(self) -> int:
        body = {"group_name": USER, "states": ["Finished", "Cancelled"], "count": True}
        return int(self.http.post("/tasks/query", json=body).json()["count"])

    def timed(self, base: int, count: int, timeout: float = 900) -> float:
        """Tasks/s from the first of `count` tasks done (agents started, as the Celery reference) to the last.

        `base`: the count before (the count reads the counters, which the bench's resets do not clear).
        """
        deadline = time.monotonic() + timeout
        while (first := self.finished() - base) < 1:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no task done after {timeout}s")
            time.sleep(0.02)
        start = time.perf_counter()
        while (done := self.finished() - base) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{done} of {count} tasks done after {timeout}s")
            time.sleep(0.02)
        return (count - first) / (time.perf_counter() - start)

    def agents_run(self, tasks: int, agents: int, batched: bool) -> float:
        """Tasks/s of `tasks` no-op tasks through `agents` real agents (queue filled first)."""
        base = self.finished()
        self.submit(tasks)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MITO_")}
        env.update(
            MITO_POLLING_INTERVAL="0.2s", MITO_HEARTBEAT_INTERVAL="30s", MITO_SKIP_REDIS="1",
            MITO_BATCH_REPORTS="1" if batched else "0", MITO_CONFIG="/none", PYTHONUNBUFFERED="1",
        )  # fmt: skip
        procs = []
        with tempfile.TemporaryDirectory() as tmp:
            for i in range(agents):
                agent_env = {
                    **env,
                    "MITO_WORK_DIR": f"{tmp}/w{i}",
                    "MITO_CREDENTIAL_PATH": f"{tmp}/c{i}.json",
                }
                procs.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            "-m",
                            "mito",
                            "worker",
                            "--coordinator",
                            self.coordinator.url,
                            "--user",
                            USER,
                            "--password",
                            PASSWORD,
                            "--groups",
                            USER,
                        ],
                        env=agent_env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        cwd=str(ROOT),
                    )  # fmt: skip
                )
            try:
                rate = self.timed(base, tasks)
            finally:
                for proc in procs:
                    stop_process(proc)
        self.reset()
        return rate

    def reset(self) -> None:
        engine = sa.create_engine(self.db.url)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "TRUNCATE archived_tasks, active_tasks, task_buckets, group_worker, workers CASCADE"
            )
        engine.dispose()

    def worker_headers(self) -> dict[str, str]:
        resp = self.http.post("/workers", json={"tags": [], "groups": []})
        resp.raise_for_status()
        return {"Authorization": f"Bearer {resp.json()['token']}"}

    def cycles(self, workers: int, seconds: float) -> float:
        """Requests/s of simulated workers doing claim, then commit-and-claim-next batches."""
        self.submit(min(20_000, int(seconds * 300)))
        headers = [self.worker_headers() for _ in range(workers)]
        return drive(self.coordinator.url, headers, seconds, chained_cycle)

    def statements_per_request(self, cycles: int = 50) -> tuple[float, float]:
        """SQL statements per claim (GET /workers/tasks) and per chained commit, counted in-process."""
        self.reset()
        self.submit(cycles + 1)
        client = self.app.test_client()
        reg = client.post("/workers", json={"tags": [], "groups": []}, headers=self.user_headers).get_json()
        worker = {"Authorization": f"Bearer {reg['token']}"}
        count = [0]
        from app import db

        engine = db.get_engine(self.db.url)

        def counter(*_args: object) -> None:
            count[0] += 1

        sa.event.listen(engine, "before_cursor_execute", counter)
        try:
            task = client.get("/workers/tasks", headers=worker).get_json()
            per_claim = count[0]
            count[0] = 0
            commit = ["Finish", {"Commit": {"exit_status": 0, "msg": None}}]
            for _ in range(cycles):
                body = {"id": task["id"], "ops": commit, "next": True}
                task = client.post("/workers/tasks/batch", json=body, headers=worker).get_json()["next"]
        finally:
            sa.event.remove(engine, "before_cursor_execute", counter)
        self.reset()
        return float(per_claim), count[0] / cycles


def chained_cycle(http: httpx.Client, state: dict) -> int:
    """One step of a simulated lean agent: the first claim, then each commit claims the next task."""
    task = state.get("task")
    if task is None:
        resp = http.get("/workers/tasks")
        if resp.status_code == 204:
            raise StopIteration
        state["task"] = resp.json()
        return 1
    body = {"id": task["id"], "ops": ["Finish", {"Commit": {"exit_status": 0, "msg": None}}], "next": True}
    resp = http.post("/workers/tasks/batch", json=body)
    resp.raise_for_status()
    state["task"] = resp.json()["next"]
    return 1


def bare_claim(http: httpx.Client, state: dict) -> int:
    resp = http.post("/claim")
    if resp.status_code == 204:
        raise StopIteration
    resp.raise_for_status()
    return 1


def drive(url: str, headers: list[dict[str, str]], seconds: float, step) -> float:
    """Requests/s of one thread per `headers` entry calling `step` until time is up."""
    done, elapsed = drive_threads(url, [(h, {}) for h in headers], seconds, step)
    return done / elapsed


# ---------------------------------------------------------------- the references

BARE_APP = """
import os
import sqlalchemy as sa
from flask import Flask, Response, jsonify

engine = sa.create_engine(os.environ["BARE_DB_URL"], pool_size=4)
CLAIM = sa.text(
    "UPDATE jobs SET state = 1 WHERE id = (SELECT id FROM jobs WHERE state = 0 ORDER BY id "
    "LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id, args"
)
app = Flask(__name__)


@app.post("/claim")
def claim():
    with engine.begin() as conn:
        row = conn.execute(CLAIM).first()
    return Response(status=204) if row is None else jsonify(id=row.id, args=row.args)
"""


def bare_reference(pg_url: str, processes: int, workers: int, seconds: float, tmp: Path) -> float:
    """Requests/s of a bare Flask + SQLAlchemy claim endpoint (gunicorn sync x processes)."""
    db = Database(pg_url, "bare")
    try:
        engine = sa.create_engine(db.url)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TABLE jobs (id bigserial PRIMARY KEY, state int NOT NULL, args json)"
            )
            conn.exec_driver_sql(
                "INSERT INTO jobs (state, args) SELECT 0, '[\"true\"]' FROM generate_series(1, 500000)"
            )
            conn.exec_driver_sql("CREATE INDEX ix_jobs_ready ON jobs (id) WHERE state = 0")
        engine.dispose()
        (tmp / "bare_claim.py").write_text(BARE_APP)
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-w", str(processes), "-b", f"127.0.0.1:{port}",
             "bare_claim:app"],
            cwd=tmp, env={**os.environ, "BARE_DB_URL": db.url}, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_http(url + "/nothing", proc=proc)
            return drive(url, [{}] * workers, seconds, bare_claim)
        finally:
            stop_process(proc)
    finally:
        db.drop()


CELERY_APP = """
import os
from celery import Celery

app = Celery("noop", broker=os.environ["NOOP_REDIS_URL"])
app.conf.update(
    task_ignore_result=True, worker_prefetch_multiplier=4, broker_connection_retry_on_startup=True
)
counter = None


@app.task(name="noop")
def noop():
    global counter
    if counter is None:
        import redis
        counter = redis.Redis.from_url(os.environ["NOOP_REDIS_URL"])
    counter.incr("noop:done")
"""


def celery_reference(tasks: int, tmp: Path) -> float:
    """Tasks/s of `tasks` no-op Celery tasks through Redis, prefork -c 2 (queue filled first)."""
    (tmp / "noop_app.py").write_text(CELERY_APP)
    env = {**os.environ, "NOOP_REDIS_URL": REDIS_URL, "PYTHONPATH": str(tmp)}
    r = redis.Redis.from_url(REDIS_URL)
    r.flushdb()
    sys.path.insert(0, str(tmp))
    os.environ["NOOP_REDIS_URL"] = REDIS_URL
    import noop_app  # the module just written: the reference's own Celery app

    for _ in range(tasks):
        noop_app.noop.apply_async()
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "noop_app", "worker", "-P", "prefork", "-c", "2",
         "-l", "warning"],
        cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while int(r.get("noop:done") or 0) < 1:
            time.sleep(0.01)
        start = time.perf_counter()
        first = int(r.get("noop:done") or 0)
        while int(r.get("noop:done") or 0) < tasks:
            time.sleep(0.01)
        return (tasks - first) / (time.perf_counter() - start)
    finally:
        stop_process(proc)
        r.flushdb()


def verdict(value: float, reference: float, goal: float) -> str:
    ratio = value / reference
    return f"ratio {ratio:.2f} (goal {goal:.2f}: {'met' if ratio >= goal else 'not met'})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--sim-workers", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--skip-agents", action="store_true", help="goal 2 only (no agents, no Celery)")
    args = parser.parse_args()
    print(f"load average at start: {load()} ({os.cpu_count()} CPUs)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if not args.skip_agents:
            celery = celery_reference(args.tasks, tmp)
            print(f"reference: Celery + Redis, prefork -c2, {args.tasks} no-op tasks: {celery:,.0f} tasks/s")
        mito = Mitosis(args.pg_url, args.processes, tmp / "mito")
        try:
            for batched in () if args.skip_agents else (False, True):
                rate = mito.agents_run(args.tasks, args.agents, batched)
                how = "report_batch" if batched else "one request per op"
                print(
                    f"end-to-end, {args.agents} agents, {args.tasks} no-op tasks, {how}: "
                    f"{rate:,.0f} tasks/s; "
                    f"{verdict(rate, celery, 250 / 1414)} [goal 1: >= 250 tasks/s: "
                    f"{'met' if rate >= 250 else 'not met'}]"
                )
            per_claim, per_commit = mito.statements_per_request()
            print(
                f"SQL statements: {per_claim:.0f} per claim, "
                f"{per_commit:.1f} per chained commit (Finish+Commit+claim)"
            )
            bare = bare_reference(args.pg_url, args.processes, args.sim_workers, args.seconds, tmp)
            print(f"reference: bare Flask claim endpoint, gunicorn sync x{args.processes}: {bare:,.0f} req/s")
            cycles = mito.cycles(args.sim_workers, args.seconds)
            print(
                f"claim+commit (chained batches), {args.sim_workers} simulated workers: {cycles:,.0f} req/s; "
                f"{verdict(cycles, bare, 0.40)}"
            )
        finally:
            mito.close()
    print(f"load average at end: {load()}")


if __name__ == "__main__":
    main()
