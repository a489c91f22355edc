"""Metrics: counters the transitions keep in the database, read back at scrape time at a fixed cost.

Where each value of GET /metrics comes from:
- `mitosis_tasks{group,state}`: `task_counts`, moved by `task_event` in the very transaction that moves a
  task (lifecycle.apply), so it is exact on every replica; a scrape sums groups x states x SHARDS rows,
  whatever the number of tasks stored.
- `mitosis_oldest_ready_task_age_seconds{group}`: one probe of ix_active_tasks_group_state_created for
  each group that has Ready tasks.
- the event counters (`mitosis_task_*_total`, `mitosis_job_*`): `metric_counters`, bumped in the
  transaction of the event; their labels are stored as canonical JSON (groups by id, named at scrape).
- `mitosis_workers{state}` and the storage gauges: the workers and groups tables (no task is read).
- `mitosis_request_duration_seconds` and `mitosis_claim_duration_seconds`: histograms of this process,
  shared by the processes of one host through prometheus-client's multiprocess mode when
  PROMETHEUS_MULTIPROC_DIR is set (`mito coordinator` sets it); each replica reports its own.

Writers of one transaction use one shard, picked at random, so concurrent transactions seldom wait on the
same counter row. A transaction's changes are summed per row and written when it commits (one upsert per
row, rows in one order), so a batch of submissions costs a few statements, not two per task.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import random
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast

import sqlalchemy as sa
from flask import current_app
from prometheus_client import CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily
from sqlalchemy.dialects import postgresql, sqlite

from app import db
from app.db import utcnow
from app.errors import Forbidden, Unauthorized
from app.models import SHARDS, ActiveTask, Group, MetricCounter, Role, TaskCount, TaskState, User, Worker
from app.prepared import prepared
from app.services import access

REQUEST_SECONDS = Histogram(
    "mitosis_request_duration_seconds", "API request latency by route", ["route", "method"]
)
CLAIM_SECONDS = Histogram(
    "mitosis_claim_duration_seconds", "Latency of a worker's fetch (claim), by outcome", ["outcome"]
)

# counter name -> (metric name, help)
COUNTERS: Mapping[str, tuple[str, str]] = {
    "submissions": ("mitosis_task_submissions_total", "Tasks submitted (by users or by upstream tasks)"),
    "claims": ("mitosis_task_claims_total", "Tasks claimed by workers"),
    "commits": ("mitosis_task_commits_total", "Task results committed, by outcome"),
    "cancels": ("mitosis_task_cancels_total", "Cancellations asked by users"),
    "losses": ("mitosis_task_losses_total", "Times a worker holding a task was lost"),
    "retries": ("mitosis_task_retries_total", "Tasks handed back to Ready after a lost worker"),
    "job_runs": ("mitosis_job_runs_total", "Housekeeping job runs, by outcome"),
}


# ---------------------------------------------------------------- writing (inside the caller's transaction)


def _shard() -> int:
    info = db.session.info
    if "mito_metrics_shard" not in info:
        info["mito_metrics_shard"] = random.randrange(SHARDS)
    return int(info["mito_metrics_shard"])


# A transaction's counter changes, summed per counter row until it commits: a batch of N submissions
# then writes each row once, not N times (N updates of one row in one transaction slow down with N).
_DELTAS = "mito_metric_deltas"
_Row = tuple[type, tuple[tuple[str, Any], ...], str]  # (model, its key columns and values, counted column)


def _upsert(model: type, keys: dict[str, Any], column: str, delta: float) -> None:
    deltas: dict[_Row, float] = db.session.info.setdefault(_DELTAS, {})
    row = (model, tuple(keys.items()), column)
    deltas[row] = deltas.get(row, 0) + delta


_Batch = tuple[type, tuple[str, ...], str]  # (model, its key columns, counted column): one upsert
_upserts: dict[tuple[str, tuple[_Batch, ...]], tuple[sa.Executable, ...]] = {}


@sa.event.listens_for(db.SessionFactory, "before_commit")
def _write_deltas(session: sa.orm.Session) -> None:
    # One upsert per counted column (a claim's or a commit's counters: 2 upserts, not 3-4), sent as one
    # statement on PostgreSQL; rows in one order everywhere (table, then key), so concurrent commits never
    # wait on each other in a cycle. The statement is built once per shape (_upsert_statements): its rows
    # are bound parameters (arrays on PostgreSQL), so a commit compiles nothing.
    deltas: dict[_Row, float] = session.info.pop(_DELTAS, {})
    batches: dict[_Batch, list[dict[str, Any]]] = {}
    for (model, keys, column), delta in sorted(
        deltas.items(), key=lambda item: (item[0][0].__name__, item[0][1])
    ):
        if delta:
            names = tuple(k for k, _ in keys)
            batches.setdefault((model, names, column), []).append({**dict(keys), column: delta})
    if not batches:
        return
    dialect = session.get_bind().dialect.name
    upserts = _upsert_statements(dialect, tuple(batches))
    if dialect == "postgresql":
        params = {
            f"b{n}_{c}": [row[c] for row in rows]
            for n, ((_, names, column), rows) in enumerate(batches.items())
            for c in (*names, column)
        }
        session.connection().execute(upserts[0], params)
        return
    for upsert, rows in zip(upserts, batches.values(), strict=True):  # SQLite: one upsert per batch
        session.connection().execute(upsert, rows)


def _upsert_statements(dialect: str, shape: tuple[_Batch, ...]) -> tuple[sa.Executable, ...]:
    """The counters' upsert for batches of this shape, built once: on PostgreSQL one statement whose rows
    are arrays (`b{n}_{column}`, unnested), the other batches as data-modifying CTEs of the first (every
    transaction writes them in the same statement shape, so in the same order); on SQLite one upsert per
    batch, executed with its rows (executemany)."""
    key = (dialect, shape)
    if key not in _upserts:
        postgres = dialect == "postgresql"
        upserts: list[Any] = []
        for n, (model, names, column) in enumerate(shape):
            table = cast(sa.Table, getattr(model, "__table__"))  # noqa: B009 (typed as a model class)
            cols = (*names, column)
            stmt: Any
            if postgres:
                arrays = [
                    sa.func.unnest(sa.bindparam(f"b{n}_{c}", type_=postgresql.ARRAY(_plain(table.c[c].type))))
                    for c in cols
                ]
                stmt = postgresql.insert(table).from_select(cols, sa.select(*arrays))
            else:
                stmt = sqlite.insert(table).values({c: sa.bindparam(c) for c in cols})
            added = {column: table.c[column] + stmt.excluded[column]}
            upserts.append(stmt.on_conflict_do_update(index_elements=list(names), set_=added))
        if postgres:
            first, *others = upserts
            for n, other in enumerate(others):
                first = first.add_cte(other.cte(f"counted_{n}"))
            _upserts[key] = (prepared(first),)
        else:
            _upserts[key] = tuple(upserts)
    return _upserts[key]


def _plain(type_: Any) -> Any:
    """A column's type as the database stores it (an IntEnumType's integer), for an array of its values."""
    return getattr(type_, "impl_instance", type_)


@sa.event.listens_for(db.SessionFactory, "after_soft_rollback")
def _forget_deltas(session: sa.orm.Session, previous_transaction: sa.orm.SessionTransaction) -> None:
    session.info.pop(_DELTAS, None)


def bump(name: str, labels: Mapping[str, Any], by: float = 1.0) -> None:
    """Add `by` to the counter `name` with `labels` (joins the caller's transaction)."""
    key = json.dumps(dict(labels), sort_keys=True, separators=(",", ":"))
    _upsert(MetricCounter, {"name": name, "labels": key, "shard": _shard()}, "value", by)


def _move(group_id: int, old: TaskState | None, new: TaskState | None) -> None:
    if old == new:
        return
    moves = sorted(((s, d) for s, d in ((old, -1), (new, 1)) if s is not None), key=lambda m: int(m[0]))
    for state, delta in moves:
        _upsert(TaskCount, {"group_id": group_id, "state": int(state), "shard": _shard()}, "count", delta)


def outcome(result: Mapping[str, Any] | None) -> str:
    """The outcome label of a committed result: its message, else success (exit 0) or failure."""
    if not result:
        return "unknown"
    if result.get("msg"):
        return str(result["msg"])
    return "success" if result.get("exit_status") == 0 else "failure"


def task_event(
    group_id: int, event: str, old: TaskState | None, new: TaskState, result: Mapping[str, Any] | None
) -> None:
    """Count one lifecycle transition of a task in `group_id` (called by lifecycle.apply, and only there)."""
    _move(group_id, old, new)
    group = {"group_id": group_id}
    if event in ("Submit", "Spawn"):
        bump("submissions", group)
    elif event == "Claim":
        bump("claims", group)
    elif event == "Commit":
        bump("commits", {**group, "outcome": outcome(result)})
    elif event == "UserCancel":
        bump("cancels", group)
    elif event == "WorkerLost":
        bump("losses", group)
        if new == TaskState.Ready:
            bump("retries", group)


@db.transactional
def record_job(name: str, *, succeeded: bool, seconds: float) -> None:
    """Count one housekeeping job run, its outcome and its duration."""
    bump("job_runs", {"job": name, "outcome": "success" if succeeded else "failure"})
    bump("job_seconds", {"job": name}, seconds)


# ---------------------------------------------------------------- reading


def group_task_counts(*, actor: User, group_name: str) -> dict[str, Any]:
    """A group's tasks by state, from the counters (members; site admins exempt): a few rows at any size."""
    group = access.require_group_role(actor, group_name, Role.Read, admin_exempt=True)
    counts = {state.name: 0 for state in TaskState}
    rows = db.session.execute(
        sa.select(TaskCount.state, sa.func.sum(TaskCount.count))
        .where(TaskCount.group_id == group.id)
        .group_by(TaskCount.state)
    )
    counts.update({state.name: int(count) for state, count in rows})
    return {"group_name": group.group_name, "counts": counts}


def _counter_rows() -> Iterator[tuple[str, dict[str, Any], float]]:
    rows = db.session.execute(
        sa.select(MetricCounter.name, MetricCounter.labels, sa.func.sum(MetricCounter.value)).group_by(
            MetricCounter.name, MetricCounter.labels
        )
    )
    for name, labels, value in rows:
        yield name, json.loads(labels), float(value)


class DatabaseCollector:
    """prometheus-client collector of the values the database holds (see the module docstring)."""

    def collect(self) -> Iterable[Any]:
        groups: dict[int, str] = {
            gid: name for gid, name in db.session.execute(sa.select(Group.id, Group.group_name))
        }
        tasks = GaugeMetricFamily("mitosis_tasks", "Tasks by group and state", labels=["group", "state"])
        ready_groups = []
        counts = db.session.execute(
            sa.select(TaskCount.group_id, TaskCount.state, sa.func.sum(TaskCount.count)).group_by(
                TaskCount.group_id, TaskCount.state
            )
        )
        for group_id, state, count in counts:
            if group_id in groups:
                tasks.add_metric([groups[group_id], state.name], float(count))
                if state == TaskState.Ready and count > 0:
                    ready_groups.append(group_id)
        yield tasks
        yield self._oldest_ready(groups, ready_groups)
        families: dict[str, Any] = {}
        jobs: dict[str, dict[str, float]] = defaultdict(dict)
        for name, labels, value in _counter_rows():
            if name == "job_seconds":
                jobs[labels["job"]]["sum"] = value
                continue
            if name == "job_runs":
                jobs[labels["job"]]["count"] = jobs[labels["job"]].get("count", 0.0) + value
            if name not in COUNTERS:
                continue
            if "group_id" in labels:
                if labels["group_id"] not in groups:
                    continue
                labels = {"group": groups[labels.pop("group_id")], **labels}
            metric, help_text = COUNTERS[name]
            family = families.setdefault(
                name, CounterMetricFamily(metric.removesuffix("_total"), help_text, labels=sorted(labels))
            )
            family.add_metric([str(labels[k]) for k in sorted(labels)], value)
        yield from families.values()
        duration = SummaryMetricFamily(
            "mitosis_job_duration_seconds", "Time spent in housekeeping jobs", labels=["job"]
        )
        for job, values in sorted(jobs.items()):
            runs, seconds = int(values.get("count", 0)), values.get("sum", 0.0)
            duration.add_metric([job], count_value=runs, sum_value=seconds)
        yield duration
        yield from self._workers_and_storage()

    def _oldest_ready(self, groups: Mapping[int, str], ready_groups: list[int]) -> GaugeMetricFamily:
        family = GaugeMetricFamily(
            "mitosis_oldest_ready_task_age_seconds", "Age of the oldest Ready task", labels=["group"]
        )
        if not ready_groups:
            return family
        # One statement; each group's minimum is one probe of ix_active_tasks_group_state_created.
        oldest = (
            sa.select(sa.func.min(ActiveTask.created_at))
            .where(ActiveTask.group_id == Group.id, ActiveTask.state == TaskState.Ready)
            .scalar_subquery()
        )
        now = utcnow()
        for group_id, created in db.session.execute(
            sa.select(Group.id, oldest).where(Group.id.in_(ready_groups))
        ):
            if created is not None:
                family.add_metric([groups[group_id]], max(0.0, (now - created).total_seconds()))
        return family

    def _workers_and_storage(self) -> Iterator[GaugeMetricFamily]:
        workers = GaugeMetricFamily("mitosis_workers", "Registered workers by state", labels=["state"])
        for state, count in db.session.execute(
            sa.select(Worker.state, sa.func.count()).group_by(Worker.state)
        ):
            workers.add_metric([state.name], float(count))
        yield workers
        used = GaugeMetricFamily("mitosis_group_storage_used_bytes", "Storage used", labels=["group"])
        quota = GaugeMetricFamily("mitosis_group_storage_quota_bytes", "Storage quota", labels=["group"])
        for name, used_bytes, quota_bytes in db.session.execute(
            sa.select(Group.group_name, Group.storage_used, Group.storage_quota)
        ):
            used.add_metric([name], float(used_bytes))
            quota.add_metric([name], float(quota_bytes))
        yield used
        yield quota


# ---------------------------------------------------------------- access and exposition


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def authorize(*, remote_addr: str | None, authorization: str | None) -> None:
    """MITO_METRICS_TOKEN set: its bearer token is required (401); unset: loopback callers only (403)."""
    token = current_app.config.get("METRICS_TOKEN")
    if token:
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), str(token).encode()):
            raise Unauthorized("Metrics need the bearer token MITO_METRICS_TOKEN")
        return
    if not _loopback(remote_addr):
        raise Forbidden("Metrics are served to loopback callers only; set MITO_METRICS_TOKEN to open them")


def scrape(*, remote_addr: str | None, authorization: str | None) -> bytes:
    """The Prometheus text exposition of every metric, for an authorized caller."""
    authorize(remote_addr=remote_addr, authorization=authorization)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_SECONDS)
        registry.register(CLAIM_SECONDS)
    return generate_latest(registry)
