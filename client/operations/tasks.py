"""Tasks and their artifacts (spec tag tasks)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from client.bodies import Json, artifact_type, as_list, drop_none, submit_request, task_filter, task_spec
from client.operations._base import Operations, q


class TaskOperations(Operations):
    """Tasks and their artifacts."""

    def submit_task(
        self,
        *,
        group_name: str,
        args: list[str],
        tags: Iterable[str] = (),
        labels: Iterable[str] = (),
        timeout: str = "10m",
        priority: int = 0,
        envs: Mapping[str, str] | None = None,
        resources: list[Json] | None = None,
        terminal_output: bool = False,
        watch: tuple[str, str] | list[str] | None = None,
        retry: Mapping[str, Any] | None = None,
    ) -> Json:
        """Submit one task: {task_id, uuid}. `retry`: its retry policy (bodies.retry_policy())."""
        spec = task_spec(args, envs=envs, resources=resources, terminal_output=terminal_output, watch=watch)
        return self._call(
            "POST", "/tasks", json=submit_request(group_name, spec, tags, labels, timeout, priority, retry)
        )

    def submit_tasks(self, tasks: Iterable[Mapping[str, Any]]) -> Json:
        """Submit many SubmitTaskReq bodies at once: {results: [{"Ok": ...} | {"Err": ...}]}."""
        return self._call("POST", "/tasks/submit", json={"tasks": [dict(t) for t in tasks]})

    def query_tasks(
        self,
        *,
        limit: int | None = None,
        offset: int | None = None,
        cursor: str | None = None,
        count: bool = False,
        **filters: Any,
    ) -> Json:
        """Query tasks, one page (next_cursor: the cursor of the next); filters as bodies.task_filter()."""
        body = task_filter(**filters) | drop_none(limit=limit, offset=offset, cursor=cursor, count=count)
        return self._call("POST", "/tasks/query", json=body)

    def cancel_tasks_by_filter(self, **filters: Any) -> Json:
        """Cancel every task matching the filter (bodies.task_filter())."""
        return self._call("POST", "/tasks/cancel", json=task_filter(**filters))

    def retry_task(self, uuid: str) -> Json:
        """Re-run a committed task as a new attempt (same uuid): {task_id, uuid}."""
        return self._call("POST", f"/tasks/{q(uuid)}/retry")

    def retry_tasks_by_filter(self, **filters: Any) -> Json:
        """Re-run every committed task matching the filter: {retried_count, group_name}."""
        return self._call("POST", "/tasks/retry", json=task_filter(**filters))

    def cancel_tasks_by_uuids(self, uuids: Iterable[str]) -> Json:
        """Cancel the listed tasks."""
        return self._call("POST", "/tasks/cancel/list", json={"uuids": list(uuids)})

    def download_artifacts_by_filter(self, content_type: str, **filters: Any) -> Json:
        """Presigned GET URLs of the `content_type` artifact of every matching task."""
        body = task_filter(**filters) | {"content_type": artifact_type(content_type)}
        return self._call("POST", "/tasks/download/artifacts", json=body)

    def download_artifacts_by_uuids(self, content_type: str, uuids: Iterable[str]) -> Json:
        """Presigned GET URLs of the `content_type` artifact of the listed tasks."""
        body = {"uuids": list(uuids), "content_type": artifact_type(content_type)}
        return self._call("POST", "/tasks/download/artifacts/list", json=body)

    def delete_artifacts_by_filter(self, content_type: str, **filters: Any) -> Json:
        """Delete the `content_type` artifact of every matching task."""
        body = task_filter(**filters) | {"content_type": artifact_type(content_type)}
        return self._call("POST", "/tasks/delete/artifacts", json=body)

    def delete_artifacts_by_uuids(self, content_type: str, uuids: Iterable[str]) -> Json:
        """Delete the `content_type` artifact of the listed tasks."""
        body = {"uuids": list(uuids), "content_type": artifact_type(content_type)}
        return self._call("POST", "/tasks/delete/artifacts/list", json=body)

    def get_task(self, uuid: str) -> Json:
        """{info, artifacts}."""
        return self._call("GET", f"/tasks/{q(uuid)}")

    def explain_task(self, uuid: str) -> Json:
        """Why a task is (not) running: worker counts, missing tags, tasks ahead, a verdict (extension)."""
        return self._call("GET", f"/tasks/{q(uuid)}/explain")

    def task_output(
        self, uuid: str, *, after: str | None = None, wait: float = 0.0, stream: str | None = None
    ) -> Json:
        """The task's live output after cursor `after`: {chunks, next, running, state} (extension).

        `wait` seconds (at most 25) the coordinator waits for new output while the task is active.
        """
        params = drop_none(after=after, wait=wait or None, stream=stream)
        return self._call("GET", f"/tasks/{q(uuid)}/output", params=params, timeout=wait + 30)

    def update_task(
        self,
        uuid: str,
        *,
        tags: Iterable[str] | None = None,
        timeout: str | None = None,
        priority: int | None = None,
        task_spec: Mapping[str, Any] | None = None,
    ) -> None:
        """Change a task that is still Ready (409 once it is claimed)."""
        body = drop_none(
            tags=as_list(tags),
            timeout=timeout,
            priority=priority,
            task_spec=None if task_spec is None else dict(task_spec),
        )
        self._call("PUT", f"/tasks/{q(uuid)}", json=body)

    def cancel_task(self, uuid: str) -> None:
        """Cancel a task: a waiting one ends at once, a running one is stopped by its agent later."""
        self._call("DELETE", f"/tasks/{q(uuid)}")

    def update_task_labels(self, uuid: str, labels: Iterable[str]) -> None:
        """Replace a task's labels."""
        self._call("PUT", f"/tasks/{q(uuid)}/labels", json={"labels": list(labels)})

    def upload_artifact(self, uuid: str, content_type: str, content_length: int) -> Json:
        """Ask for a presigned PUT URL for a task artifact: {url}."""
        body = {"content_type": artifact_type(content_type), "content_length": content_length}
        return self._call("POST", f"/tasks/{q(uuid)}/artifacts", json=body)

    def delete_artifact(self, uuid: str, content_type: str) -> None:
        """Delete a task's artifact."""
        self._call("DELETE", f"/tasks/{q(uuid)}/artifacts/{artifact_type(content_type)}")

    def download_artifact(self, uuid: str, content_type: str, *, attempt: int | None = None) -> Json:
        """The presigned GET URL of a task artifact and its size: {url, size}; `attempt`: the one that attempt
        uploaded (extension) instead of the one the task shows."""
        path = f"/tasks/{q(uuid)}/download/artifacts/{artifact_type(content_type)}"
        return self._call("GET", path, params=drop_none(redirect="false", attempt=attempt))
