"""What every benchmark of `python -m bench` shares: timing, the machine's load, process memory, and the
Figure each goal is printed as (project / reference, their ratio, met or not)."""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa


@dataclass(frozen=True)
class Figure:
    """One measured goal: the project's figure against the in-run reference (or a fixed bound)."""

    goal: str
    project: float
    reference: float | None
    unit: str
    met: bool | None  # None: a figure printed for information, with no goal of its own
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.reference or not self.project:
            return None
        higher_is_better = self.unit.endswith("/s")
        return self.project / self.reference if higher_is_better else self.reference / self.project


def timed_ms(fn: Callable[[], object], times: int) -> list[float]:
    """Wall times of `times` calls, in milliseconds."""
    out = []
    for _ in range(times):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} {five:.1f} {fifteen:.1f}"


def rss_mb(pid: int) -> float:
    """Resident memory of one process, in MiB (Linux /proc)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """CPU time (user + system, every thread) a process has used so far, in seconds (Linux /proc).

    `reaped`: that of its children it has waited for instead (e.g. an agent's task commands)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    first = 13 if reaped else 11  # utime, stime are fields 14 and 15 of proc(5); cutime, cstime 16 and 17
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its live descendants (gunicorn's arbiter and workers), in seconds."""
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += cpu_seconds(current)
        except (FileNotFoundError, ProcessLookupError):
            continue
        todo += children(current)
    return total


_REQUESTS = re.compile(
    r'^mitosis_request_duration_seconds_count\{method="(\w+)",route="([^"]+)"\} ([0-9.e+]+)$'
)


def worker_requests(url: str) -> dict[str, float]:
    """Requests a coordinator served so far on the worker routes, by `METHOD route` (its GET /metrics)."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    counts: dict[str, float] = {}
    for line in text.splitlines():
        m = _REQUESTS.match(line)
        if m and m.group(2).startswith("/workers"):
            counts[f"{m.group(1)} {m.group(2)}"] = float(m.group(3))
    return counts


def children(pid: int) -> list[int]:
    """The direct child processes of `pid` (gunicorn's workers under its arbiter)."""
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def print_figures(figures: list[Figure]) -> None:
    """The table `python -m bench` ends with: one line per goal."""
    print(f"\n{'goal':<46} {'project':>12} {'reference':>12} {'ratio':>7}  met   (load {load()})")
    for f in figures:
        ref = f"{f.reference:.2f}" if f.reference is not None else "-"
        ratio = f"{f.ratio:.2f}" if f.ratio is not None else "-"
        met = "-" if f.met is None else "yes" if f.met else "NO"
        print(f"{f.goal:<46} {f.project:>9.2f} {f.unit:<2} {ref:>12} {ratio:>7}  {met:<4}  {f.note}")


def statement_ms(conn: sa.Connection, statements: list[tuple[str, Any]]) -> float:
    """The summed EXPLAIN (ANALYZE) execution time of `statements`, in a transaction rolled back."""
    total = 0.0
    with conn.begin() as tx:
        for statement, params in statements:
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):  # WITH: a claim that found none
                continue
            plan = conn.exec_driver_sql("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params).scalar()
            total += (plan if isinstance(plan, list) else json.loads(plan))[0]["Execution Time"]
        tx.rollback()
    return total


def started(coordinator: Any, patience: float = 180.0) -> Any:
    """`coordinator.start()` (a tests.helpers.LiveCoordinator), waiting up to `patience` s on a busy host."""
    from tests.helpers import wait_for_http

    try:
        return coordinator.start()
    except TimeoutError:
        try:
            wait_for_http(coordinator.url + "/health", timeout=patience, proc=coordinator.proc)
        except BaseException:
            coordinator.stop()
            raise
        return coordinator


def drive_threads(
    url: str,
    clients: list[tuple[dict[str, str], dict]],
    seconds: float,
    step: Callable[[httpx.Client, dict], int],
) -> tuple[int, float]:
    """One thread per client (its headers, and its state kept by the caller from one run to the next)
    calling `step` (which returns the requests it made; StopIteration ends that thread) for `seconds`:
    (requests done, seconds elapsed)."""
    done = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run(h: dict[str, str], state: dict) -> None:
        with httpx.Client(base_url=url, headers=h, timeout=120) as http:
            while time.monotonic() < deadline:
                try:
                    n = step(http, state)
                except StopIteration:
                    return
                with lock:
                    done[0] += n

    start = time.perf_counter()
    threads = [threading.Thread(target=run, args=client) for client in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return done[0], time.perf_counter() - start
