"""Throughput against the in-run references (issue 13 goals 1 and 2), on PostgreSQL, over HTTP.

- cycles: claim + Finish + Commit cycles/s of simulated workers (httpx threads) against a
  `mito coordinator --workers N`, and the bare claim endpoint's req/s (bench/reference.py) with as many
  client threads, on the same machine in the same run, alternated `--rounds` times (medians printed).
  Goal 2: cycles/s >= 40 % of the reference's req/s. A simulated worker is a lean agent: a claim, then
  one chained batch per task (Finish + Commit + the next claim). Printed beside it: the CPU (user + system
  of the gunicorn processes) per request of both servers, goal within 2x; and the SQL statements per
  request of both, counted in-process on the same code paths.
- end to end (bench/e2e.py): N no-op tasks (`true`) submitted in batches and run by real `mito worker`
  agents, from the submission to the last commit, with the requests and the CPU per task; the reference
  is Celery + Redis (prefork -c2) running as many no-op tasks. Goal 1: >= 250 tasks/s.

    .venv/bin/python -m bench throughput [--only cycles|e2e] [--workers 8] [--agents 4] [--tasks 500]
        [--seconds 10]

To add a figure: write a function that takes the running
`Bench` (bench/dispatch.py: its coordinator, database and helpers) and returns Figures, and call it from
`run`; `python -m bench all` prints every Figure in its table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.common import Figure, drive_threads, load, tree_cpu_seconds
from bench.dispatch import Bench
from bench.e2e import end_to_end
from bench.protocol import chained_cycle
from bench.reference import ClaimEndpoint

Step = Callable[[httpx.Client, dict], int]
Client = tuple[dict[str, str], dict]  # a simulated client's headers and state

CYCLES_RATIO = 0.40
CPU_RATIO = 2.0  # coordinator CPU per request within 2x of the bare endpoint's
HANDFUL = 5  # SQL statements per request of a chained cycle
PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/14"


def _drive(url: str, clients: list[Client], seconds: float, step: Step, pid: int) -> tuple[float, float]:
    """Requests/s of one thread per client (its headers and its state, kept from one round to the next:
    the task it holds) calling `step` for `seconds`, and the server's CPU (user + system of the process
    tree `pid`: gunicorn's arbiter and workers) per request, in ms."""
    cpu = tree_cpu_seconds(pid)
    done, elapsed = drive_threads(url, clients, seconds, step)
    cpu = tree_cpu_seconds(pid) - cpu
    return done / elapsed, cpu * 1000 / max(done, 1)


def _bare_claim(http: httpx.Client, state: dict) -> int:
    http.get("/claim").raise_for_status()
    return 1


def statements(bench: Bench, reference_env: dict[str, str], cycles: int = 50) -> tuple[float, float]:
    """SQL statements per request sent by the project's chained cycle and by the bare claim endpoint,
    counted in-process (Flask test clients, the same code paths) with a SQLAlchemy event listener on
    every engine. BEGIN and COMMIT are not counted for either (psycopg sends them itself)."""
    from bench import reference

    count = [0]

    def counter(*_args: object) -> None:
        count[0] += 1

    client = bench.app.test_client()
    worker = bench.worker([])
    saved = {k: os.environ.get(k) for k in reference_env}
    os.environ.update(reference_env)
    try:
        bare = reference.create_app().test_client()
    finally:
        for k, v in saved.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    sa.event.listen(sa.Engine, "before_cursor_execute", counter)
    try:
        task = client.get("/workers/tasks", headers=worker).get_json()
        count[0] = 0
        for _ in range(cycles):
            body = {
                "id": task["id"],
                "ops": ["Finish", {"Commit": {"exit_status": 0, "msg": None}}],
                "next": True,
            }
            task = client.post("/workers/tasks/batch", json=body, headers=worker).get_json()["next"]
        project = count[0] / cycles
        count[0] = 0
        for _ in range(cycles):
            assert bare.get("/claim").status_code == 200
        ref = count[0] / cycles
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", counter)
    return project, ref


def cycles(bench: Bench, folder: Path, workers: int, seconds: float, rounds: int) -> list[Figure]:
    """Goal 2: the project's claim+Finish+Commit cycles/s (simulated lean agents: a claim, then one
    chained batch per task, Finish + Commit + claim the next) and the bare claim endpoint's req/s,
    alternated; the CPU per request of both servers and the SQL statements per request of both."""
    bench.queue(200_000, "'{}'::text[]", "'[]'", 0)  # enough Ready tasks for both (one table)
    bench.vacuum()
    agents: list[Client] = [(bench.worker([]), {}) for _ in range(workers)]
    bare_clients: list[Client] = [({}, {}) for _ in range(workers)]
    group_id = bench.sql("SELECT id FROM groups WHERE group_name = 'bench'").scalar_one()
    env = {"BENCH_DB_URL": bench.db_url, "BENCH_GROUP_ID": str(group_id)}
    statements_project, statements_ref = statements(bench, env)
    reference = ClaimEndpoint(bench.db_url, group_id, bench.coordinator.processes, folder / "reference.log")
    assert bench.coordinator.proc is not None
    project_runs, reference_runs = [], []
    try:
        for _ in range(rounds):
            reference_runs.append(
                _drive(reference.url, bare_clients, seconds, _bare_claim, reference.proc.pid)
            )
            project_runs.append(
                _drive(bench.coordinator.url, agents, seconds, chained_cycle, bench.coordinator.proc.pid)
            )
            (rate, cpu), (rate_ref, cpu_ref) = project_runs[-1], reference_runs[-1]
            print(f"  round: project {rate:,.0f} cycles/s ({cpu:.2f} ms CPU/req), bare {rate_ref:,.0f} "
                  f"req/s ({cpu_ref:.2f} ms CPU/req); load {load()}", flush=True)  # fmt: skip
    finally:
        reference.stop()
    project, ref = (statistics.median(r for r, _ in runs) for runs in (project_runs, reference_runs))
    cpu, cpu_ref = (statistics.median(c for _, c in runs) for runs in (project_runs, reference_runs))
    print(f"cycles: {workers} workers: project {project:,.0f} cycles/s, bare claim endpoint {ref:,.0f} "
          f"req/s; CPU per request {cpu:.2f} / {cpu_ref:.2f} ms; statements per request "
          f"{statements_project:.1f} / {statements_ref:.1f}", flush=True)  # fmt: skip
    note = (
        f">= {CYCLES_RATIO:.0%} of the bare claim endpoint; {workers} simulated workers, 1 request per cycle"
    )
    return [
        Figure("2: claim+Finish+Commit cycles", project, ref, "/s", project >= CYCLES_RATIO * ref, note),
        Figure("2: coordinator CPU per request", cpu, cpu_ref, "ms", cpu <= CPU_RATIO * cpu_ref,
               f"<= {CPU_RATIO:g}x the bare endpoint's; user+sys of the gunicorn processes / requests"),
        Figure("2: SQL statements per request", statements_project, statements_ref, "",
               statements_project <= HANDFUL, f"<= {HANDFUL} (a handful); BEGIN/COMMIT not counted"),
    ]  # fmt: skip


def run(
    workers: int, agents: int, tasks: int, seconds: float, rounds: int, processes: int, only: str | None
) -> list[Figure]:
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bench = Bench(PG_URL, processes, folder)
        try:
            if only in (None, "cycles"):
                figures += cycles(bench, folder, workers, seconds, rounds)
                bench.clear_tasks()
            if only in (None, "e2e"):
                figures += end_to_end(bench, folder, agents, tasks, REDIS_URL)
        finally:
            bench.close()
    return figures


def main(argv: list[str] | None = None) -> list[Figure]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=["cycles", "e2e"], help="one part (default: both)")
    parser.add_argument("--workers", type=int, default=8, help="simulated workers (and reference clients)")
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--tasks", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2, help="gunicorn processes of both servers")
    args = parser.parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sizes = (args.workers, args.agents, args.tasks, args.seconds, args.rounds, args.processes)
    return run(*sizes, only=args.only)
