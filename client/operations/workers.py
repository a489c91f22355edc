"""Workers: managed with the user token, and the agent's own calls with a worker token (spec tag workers)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from client.bodies import (
    Json,
    artifact_type,
    as_list,
    drop_none,
    relations_body,
    shutdown_op,
    worker_filter,
)
from client.http import HttpClient
from client.operations._base import Operations, q
from client.worker_api import WorkerApi
from mito.vocab import Role, ShutdownOp


class WorkerOperations(Operations):
    """Workers, as their users and as the agents."""

    def register_worker(
        self,
        *,
        tags: Iterable[str] = (),
        groups: Iterable[str] = (),
        labels: Iterable[str] | None = None,
        lifetime: str | None = None,
    ) -> Json:
        """Register a worker as the logged-in user: {worker_id, token, redis_url}."""
        body = drop_none(tags=list(tags), groups=list(groups), labels=as_list(labels), lifetime=lifetime)
        return self._call("POST", "/workers", json=body)

    def query_workers(self, *, count: bool = False, **filters: Any) -> Json:
        """Query workers; filters as bodies.worker_filter() takes them."""
        return self._call("POST", "/workers/query", json=worker_filter(**filters) | {"count": count})

    def shutdown_workers_by_filter(
        self, *, op: str | ShutdownOp = ShutdownOp.Graceful, **filters: Any
    ) -> Json:
        """Shut down the workers matching the filter (bodies.worker_filter())."""
        body = {"op": shutdown_op(op)} | worker_filter(**filters)
        return self._call("POST", "/workers/shutdown", json=body)

    def shutdown_workers_by_uuids(
        self, uuids: Iterable[str], *, op: str | ShutdownOp = ShutdownOp.Graceful
    ) -> Json:
        """Shut down the listed workers."""
        return self._call(
            "POST", "/workers/shutdown/list", json={"uuids": list(uuids), "op": shutdown_op(op)}
        )

    def get_worker(self, uuid: str) -> Json:
        """A worker and the groups it serves."""
        return self._call("GET", f"/workers/{q(uuid)}")

    def shutdown_worker(self, uuid: str, *, op: str | ShutdownOp = ShutdownOp.Graceful) -> None:
        """Shut a worker down."""
        self._call("DELETE", f"/workers/{q(uuid)}", params={"op": shutdown_op(op)})

    def update_worker_tags(self, uuid: str, tags: Iterable[str]) -> None:
        """Replace a worker's tags."""
        self._call("PUT", f"/workers/{q(uuid)}/tags", json={"tags": list(tags)})

    def update_worker_labels(self, uuid: str, labels: Iterable[str]) -> None:
        """Replace a worker's labels."""
        self._call("PUT", f"/workers/{q(uuid)}/labels", json={"labels": list(labels)})

    def update_worker_groups(self, uuid: str, relations: Mapping[str, str | Role]) -> None:
        """Grant groups a role on a worker: {group_name: Read|Write|Admin}."""
        self._call("PUT", f"/workers/{q(uuid)}/groups", json={"relations": relations_body(relations)})

    def remove_worker_groups(self, uuid: str, groups: Iterable[str]) -> None:
        """Remove groups from a worker."""
        self._call("DELETE", f"/workers/{q(uuid)}/groups", params={"groups": ",".join(groups)})

    # -- workers (worker token)
    def _worker(self, worker_token: str) -> WorkerApi:
        """The agent's client (client/worker_api.py) with a worker token, over this client's connection."""
        return WorkerApi(HttpClient(self.http.base_url, worker_token, transport=self._client))

    def unregister_worker(self, worker_token: str) -> None:
        """Remove the worker of this token."""
        self._worker(worker_token).unregister()

    def worker_heartbeat(self, worker_token: str) -> list[str]:
        """Returns the uuids of tasks the agent must cancel."""
        return self._worker(worker_token).heartbeat()

    def worker_fetch_task(self, worker_token: str) -> Json | None:
        """Claim the next task, or None when there is nothing to do (204)."""
        return self._worker(worker_token).fetch()

    def worker_report_task(self, worker_token: str, task_id: int, op: Any) -> Json:
        """Send one report op for a claimed task."""
        return self._worker(worker_token).report(task_id, op)

    def worker_ship_output(self, worker_token: str, task_id: int, chunks: list[Json]) -> None:
        """Ship live-output chunks ({stream, data, skipped}) of the claimed task (extension)."""
        self._worker(worker_token).ship_output(task_id, chunks)

    def worker_get_task(self, worker_token: str, uuid: str) -> Json:
        """A task as the worker sees it."""
        return self._worker(worker_token).get_task(q(uuid))

    def worker_download_artifact(self, worker_token: str, uuid: str, content_type: str) -> Json:
        """{url, size} of another task's artifact, for a worker."""
        return self._worker(worker_token).artifact_url(q(uuid), artifact_type(content_type))

    def worker_download_attachment(self, worker_token: str, uuid: str, key: str) -> Json:
        """{url, size} of an attachment of the claimed task's group, for a worker."""
        return self._worker(worker_token).attachment_url(q(uuid), key)
