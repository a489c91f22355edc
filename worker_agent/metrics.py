"""The agent's own metrics, served over HTTP by `mito worker --metrics-bind HOST:PORT` (path /metrics).

Process-local (one agent, one process): tasks run by how they ended, what the agent is doing now (its last
exec state, or Idle), bytes uploaded to the object store, and failed calls to the coordinator by reason.
They live in a registry of their own, so nothing else in the process shows up in a scrape.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Enum, start_http_server

from client.http import ApiError
from mito.vocab import ExecState

IDLE = "Idle"
REGISTRY = CollectorRegistry(auto_describe=True)
TASKS = Counter(
    "mitosis_agent_tasks", "Tasks this agent ran, by how they ended", ["result"], registry=REGISTRY
)  # committed, lost (reassigned), abandoned (the agent stopped or the coordinator refused it)
STATE = Enum(
    "mitosis_agent_state", "What the agent is doing: its task's exec state, or Idle",
    states=[IDLE, *(s.name for s in ExecState)], registry=REGISTRY,
)  # fmt: skip
UPLOADED = Counter("mitosis_agent_uploaded_bytes", "Bytes of artifacts uploaded", registry=REGISTRY)
API_FAILURES = Counter(
    "mitosis_agent_api_failures",
    "Failed calls to the coordinator (each attempt)",
    ["reason"],
    registry=REGISTRY,
)


def api_failure(exc: BaseException) -> None:
    """Count a failed call: `unreachable`, or the HTTP status it answered."""
    if isinstance(exc, ApiError):
        API_FAILURES.labels("unreachable" if exc.status == 0 else str(exc.status)).inc()


def serve(bind: str) -> None:
    """Serve the metrics on HOST:PORT in a daemon thread (ValueError for a malformed address)."""
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--metrics-bind wants HOST:PORT, not {bind!r}")
    start_http_server(int(port), addr=host.strip("[]") or "127.0.0.1", registry=REGISTRY)
