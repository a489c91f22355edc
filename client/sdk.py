"""The Mitosis Python SDK: one typed method per operation of the REST API (spec/openapi.yaml).

    from client.sdk import Mitosis
    mito = Mitosis("http://127.0.0.1:5000")
    mito.login("alice", "secret")                  # stores the token on the client
    task = mito.submit_task(group_name="alice", args=["echo", "hi"])
    mito.wait_task(task["uuid"])
    mito.fetch_artifact(task["uuid"], "result", "result.tar.gz")

Every method returns the decoded JSON body (None for the spec's empty 200s) and raises
client.http.ApiError(status, message) for error answers. `OPERATIONS` maps each spec operationId to
its method. Worker-token operations take the worker token explicitly (the agent's own client is
client/worker_api.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from client.http import ApiError, HttpClient, TransportError
from client.worker_api import WorkerApi, md5_password

__all__ = ["OPERATIONS", "ApiError", "Mitosis", "TransportError", "md5_password"]

Json = Any
Progress = Callable[[int, int], None]  # (bytes done, total bytes)

# spec operationId -> Mitosis method name
OPERATIONS: dict[str, str] = {
    "healthCheck": "health",
    "userLogin": "login",
    "userAuth": "auth",
    "getRedisConnectionInfo": "redis_info",
    "changePassword": "change_password",
    "queryUserGroups": "user_groups",
    "createGroup": "create_group",
    "getGroup": "get_group",
    "updateUserGroup": "update_group_users",
    "removeUserGroupParams": "remove_group_users",
    "uploadAttachment": "upload_attachment",
    "queryAttachments": "query_attachments",
    "queryAttachment": "get_attachment",
    "deleteAttachment": "delete_attachment",
    "downloadAttachment": "download_attachment",
    "batchDownloadAttachmentsByFilter": "download_attachments_by_filter",
    "batchDownloadAttachmentsByKeys": "download_attachments_by_keys",
    "batchDeleteAttachmentsByFilter": "delete_attachments_by_filter",
    "batchDeleteAttachmentsByKeys": "delete_attachments_by_keys",
    "registerWorker": "register_worker",
    "unregisterWorker": "unregister_worker",
    "queryWorkers": "query_workers",
    "shutdownWorkersByFilter": "shutdown_workers_by_filter",
    "shutdownWorkersByUuids": "shutdown_workers_by_uuids",
    "getWorker": "get_worker",
    "shutdownWorker": "shutdown_worker",
    "updateWorkerTags": "update_worker_tags",
    "updateWorkerLabels": "update_worker_labels",
    "updateWorkerGroups": "update_worker_groups",
    "removeWorkerGroupsParams": "remove_worker_groups",
    "workerHeartbeat": "worker_heartbeat",
    "fetchTask": "worker_fetch_task",
    "reportTask": "worker_report_task",
    "getTaskForWorker": "worker_get_task",
    "downloadTaskArtifactForWorker": "worker_download_artifact",
    "downloadAttachmentForWorker": "worker_download_attachment",
    "submitTask": "submit_task",
    "queryTasks": "query_tasks",
    "cancelTasksByFilter": "cancel_tasks_by_filter",
    "cancelTasksByUuids": "cancel_tasks_by_uuids",
    "batchDownloadArtifactsByFilter": "download_artifacts_by_filter",
    "batchDownloadArtifactsByUuids": "download_artifacts_by_uuids",
    "batchDeleteArtifactsByFilter": "delete_artifacts_by_filter",
    "batchDeleteArtifactsByUuids": "delete_artifacts_by_uuids",
    "batchSubmitTasks": "submit_tasks",
    "getTask": "get_task",
    "updateTask": "update_task",
    "cancelTask": "cancel_task",
    "updateTaskLabels": "update_task_labels",
    "uploadTaskArtifact": "upload_artifact",
    "deleteTaskArtifact": "delete_artifact",
    "downloadTaskArtifact": "download_artifact",
    "adminCreateUser": "admin_create_user",
    "adminDeleteUser": "admin_delete_user",
    "adminChangeUserPassword": "admin_change_password",
    "adminChangeUserGroupQuota": "admin_change_group_quota",
    "adminChangeUserState": "admin_change_user_state",
    "adminChangeGroupStorageQuota": "admin_change_storage_quota",
    "adminShutdownWorker": "admin_shutdown_worker",
    "adminDeleteAttachment": "admin_delete_attachment",
    "adminDeleteTaskArtifact": "admin_delete_artifact",
    "adminShutdownCoordinator": "admin_shutdown_coordinator",
}

ARTIFACT_TYPES = ("result", "exec-log", "std-log")
_ARTIFACT_ALIASES = {
    "result": "result",
    "exec-log": "exec-log", "execlog": "exec-log", "exec": "exec-log",
    "std-log": "std-log", "stdlog": "std-log", "std": "std-log", "terminal": "std-log",
}  # fmt: skip
DONE_STATES = ("Finished", "Cancelled")


def artifact_type(name: str) -> str:
    """Normalise an artifact content type (`result`, `exec-log`/`exec`, `std-log`/`std`/`terminal`)."""
    key = name.strip().lower().replace("_", "-")
    if key not in _ARTIFACT_ALIASES:
        raise ValueError(f"unknown artifact type {name!r}: use one of {', '.join(ARTIFACT_TYPES)}")
    return _ARTIFACT_ALIASES[key]


def _q(segment: str) -> str:
    return quote(str(segment), safe="")


def _key(key: str) -> str:
    """Attachment keys may hold '/', which stays a path separator on the wire."""
    return quote(key, safe="/")


def _drop_none(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _list(value: Iterable[str] | str | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    return list(value)


def task_filter(
    *,
    creator_usernames: Iterable[str] | None = None,
    group_name: str | None = None,
    tags: Iterable[str] | None = None,
    labels: Iterable[str] | None = None,
    states: Iterable[str] | None = None,
    exit_status: str | int | None = None,
    priority: str | int | None = None,
    reporter_uuid: str | None = None,
) -> dict[str, Any]:
    """The task filter shared by query, cancel, and the artifact batch operations."""
    return _drop_none(
        creator_usernames=_list(creator_usernames),
        group_name=group_name,
        tags=_list(tags),
        labels=_list(labels),
        states=_list(states),
        exit_status=None if exit_status is None else str(exit_status),
        priority=None if priority is None else str(priority),
        reporter_uuid=reporter_uuid,
    )


def task_spec(
    args: list[str],
    *,
    envs: Mapping[str, str] | None = None,
    resources: list[dict] | None = None,
    terminal_output: bool = False,
    watch: tuple[str, str] | list[str] | None = None,
) -> dict[str, Any]:
    """A TaskSpec body."""
    spec: dict[str, Any] = {
        "args": list(args),
        "envs": dict(envs or {}),
        "resources": list(resources or []),
        "terminal_output": terminal_output,
    }
    if watch is not None:
        spec["watch"] = list(watch)
    return spec


def attachment_resource(key: str, local_path: str) -> dict:
    """A RemoteResourceDownload for a group attachment."""
    return {"remote_file": {"Attachment": {"key": key}}, "local_path": local_path}


def artifact_resource(uuid: str, content_type: str, local_path: str) -> dict:
    """A RemoteResourceDownload for another task's artifact."""
    return {
        "remote_file": {"Artifact": {"uuid": uuid, "content_type": artifact_type(content_type)}},
        "local_path": local_path,
    }


class Mitosis:
    """A client of one coordinator. `token` is the user's JWT; `login` sets it."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:5000",
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.Client | None = None,
    ):
        self._client = transport or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout)
        self.http = HttpClient(base_url, token, timeout=timeout, transport=self._client)

    @property
    def base_url(self) -> str:
        return self.http.base_url

    @property
    def token(self) -> str | None:
        return self.http.token

    @token.setter
    def token(self, value: str | None) -> None:
        self.http.token = value

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Mitosis:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs) -> Json:
        return self.http.json(method, path, **kwargs)

    # ---------------------------------------------------------------- health, auth, pubsub
    def health(self) -> dict:
        """GET /health."""
        return self._call("GET", "/health")

    def login(self, username: str, password: str, *, retain: bool = False) -> str:
        """Log in; stores and returns the token. retain=False ends the user's other sessions."""
        body = {"username": username, "md5_password": md5_password(password), "retain": retain}
        self.token = self._call("POST", "/login", json=body)["token"]
        return self.token

    def auth(self) -> str:
        """Check the token; returns the username it belongs to."""
        return self.http.request("GET", "/auth").text.strip().strip('"')

    def redis_info(self) -> dict:
        """The Redis URL clients may subscribe to (url is None without Redis)."""
        return self._call("GET", "/redis")

    # ---------------------------------------------------------------- users
    def change_password(self, username: str, old_password: str, new_password: str) -> str:
        """Change one's own password; stores and returns the new token."""
        body = {
            "old_md5_password": md5_password(old_password),
            "new_md5_password": md5_password(new_password),
        }
        self.token = self._call("POST", f"/users/{_q(username)}/password", json=body)["token"]
        return self.token

    def user_groups(self) -> dict[str, str]:
        """The caller's groups and roles: {group_name: role}."""
        return self._call("GET", "/users/groups")["groups"]

    # ---------------------------------------------------------------- groups
    def create_group(self, group_name: str) -> None:
        self._call("POST", "/groups", json={"group_name": group_name})

    def get_group(self, group_name: str) -> dict:
        return self._call("GET", f"/groups/{_q(group_name)}")

    def update_group_users(self, group_name: str, relations: Mapping[str, str]) -> None:
        """Add users to a group or change their roles: {username: Read|Write|Admin}."""
        self._call("PUT", f"/groups/{_q(group_name)}/users", json={"relations": dict(relations)})

    def remove_group_users(self, group_name: str, users: Iterable[str]) -> None:
        self._call("DELETE", f"/groups/{_q(group_name)}/users", params={"users": ",".join(users)})

    # ---------------------------------------------------------------- attachments
    def upload_attachment(self, group_name: str, key: str, content_length: int) -> dict:
        """Ask for a presigned PUT URL for an attachment: {url}."""
        body = {"key": key, "content_length": content_length}
        return self._call("POST", f"/groups/{_q(group_name)}/attachments", json=body)

    def query_attachments(
        self,
        group_name: str,
        *,
        key: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
        count: bool = False,
    ) -> dict:
        body = _drop_none(key=key, limit=limit, offset=offset, count=count)
        return self._call("POST", f"/groups/{_q(group_name)}/attachments/query", json=body)

    def get_attachment(self, group_name: str, key: str) -> dict:
        return self._call("GET", f"/groups/{_q(group_name)}/attachments/{_key(key)}")

    def delete_attachment(self, group_name: str, key: str) -> None:
        self._call("DELETE", f"/groups/{_q(group_name)}/attachments/{_key(key)}")

    def download_attachment(self, group_name: str, key: str) -> dict:
        """The presigned GET URL of an attachment and its size: {url, size}."""
        path = f"/groups/{_q(group_name)}/download/attachments/{_key(key)}"
        return self._call("GET", path, params={"redirect": "false"})

    def download_attachments_by_filter(
        self, group_name: str, *, key: str | None = None, limit: int | None = None, offset: int | None = None
    ) -> dict:
        body = _drop_none(key=key, limit=limit, offset=offset)
        return self._call("POST", f"/groups/{_q(group_name)}/download/attachments", json=body)

    def download_attachments_by_keys(self, group_name: str, keys: Iterable[str]) -> dict:
        body = {"keys": list(keys)}
        return self._call("POST", f"/groups/{_q(group_name)}/download/attachments/list", json=body)

    def delete_attachments_by_filter(
        self, group_name: str, *, key: str | None = None, limit: int | None = None, offset: int | None = None
    ) -> dict:
        body = _drop_none(key=key, limit=limit, offset=offset)
        return self._call("POST", f"/groups/{_q(group_name)}/delete/attachments", json=body)

    def delete_attachments_by_keys(self, group_name: str, keys: Iterable[str]) -> dict:
        body = {"keys": list(keys)}
        return self._call("POST", f"/groups/{_q(group_name)}/delete/attachments/list", json=body)

    # ---------------------------------------------------------------- workers (user token)
    def register_worker(
        self,
        *,
        tags: Iterable[str] = (),
        groups: Iterable[str] = (),
        labels: Iterable[str] | None = None,
        lifetime: str | None = None,
    ) -> dict:
        """Register a worker as the logged-in user: {worker_id, token, redis_url}."""
        body = _drop_none(tags=list(tags), groups=list(groups), labels=_list(labels), lifetime=lifetime)
        return self._call("POST", "/workers", json=body)

    def query_workers(
        self,
        *,
        group_name: str | None = None,
        role: Iterable[str] | None = None,
        tags: Iterable[str] | None = None,
        labels: Iterable[str] | None = None,
        creator_username: str | None = None,
        count: bool = False,
    ) -> dict:
        body = _drop_none(
            group_name=group_name,
            role=_list(role),
            tags=_list(tags),
            labels=_list(labels),
            creator_username=creator_username,
            count=count,
        )
        return self._call("POST", "/workers/query", json=body)

    def shutdown_workers_by_filter(
        self,
        *,
        op: str = "Graceful",
        group_name: str | None = None,
        role: Iterable[str] | None = None,
        tags: Iterable[str] | None = None,
        labels: Iterable[str] | None = None,
        creator_username: str | None = None,
    ) -> dict:
        body = _drop_none(
            op=op,
            group_name=group_name,
            role=_list(role),
            tags=_list(tags),
            labels=_list(labels),
            creator_username=creator_username,
        )
        return self._call("POST", "/workers/shutdown", json=body)

    def shutdown_workers_by_uuids(self, uuids: Iterable[str], *, op: str = "Graceful") -> dict:
        return self._call("POST", "/workers/shutdown/list", json={"uuids": list(uuids), "op": op})

    def get_worker(self, uuid: str) -> dict:
        return self._call("GET", f"/workers/{_q(uuid)}")

    def shutdown_worker(self, uuid: str, *, op: str = "Graceful") -> None:
        self._call("DELETE", f"/workers/{_q(uuid)}", params={"op": op})

    def update_worker_tags(self, uuid: str, tags: Iterable[str]) -> None:
        self._call("PUT", f"/workers/{_q(uuid)}/tags", json={"tags": list(tags)})

    def update_worker_labels(self, uuid: str, labels: Iterable[str]) -> None:
        self._call("PUT", f"/workers/{_q(uuid)}/labels", json={"labels": list(labels)})

    def update_worker_groups(self, uuid: str, relations: Mapping[str, str]) -> None:
        """Grant groups a role on a worker: {group_name: Read|Write|Admin}."""
        self._call("PUT", f"/workers/{_q(uuid)}/groups", json={"relations": dict(relations)})

    def remove_worker_groups(self, uuid: str, groups: Iterable[str]) -> None:
        self._call("DELETE", f"/workers/{_q(uuid)}/groups", params={"groups": ",".join(groups)})

    # ---------------------------------------------------------------- workers (worker token)
    def _worker(self, worker_token: str) -> WorkerApi:
        """The agent's client (client/worker_api.py) with a worker token, over this client's connection."""
        return WorkerApi(HttpClient(self.base_url, worker_token, transport=self._client))

    def unregister_worker(self, worker_token: str) -> None:
        self._worker(worker_token).unregister()

    def worker_heartbeat(self, worker_token: str) -> list[str]:
        """Returns the uuids of tasks the agent must cancel."""
        return self._worker(worker_token).heartbeat()

    def worker_fetch_task(self, worker_token: str) -> dict | None:
        """Claim the next task, or None when there is nothing to do (204)."""
        return self._worker(worker_token).fetch()

    def worker_report_task(self, worker_token: str, task_id: int, op: Json) -> dict:
        return self._worker(worker_token).report(task_id, op)

    def worker_get_task(self, worker_token: str, uuid: str) -> dict:
        return self._worker(worker_token).get_task(_q(uuid))

    def worker_download_artifact(self, worker_token: str, uuid: str, content_type: str) -> dict:
        return self._worker(worker_token).artifact_url(_q(uuid), artifact_type(content_type))

    def worker_download_attachment(self, worker_token: str, uuid: str, key: str) -> dict:
        return self._worker(worker_token).attachment_url(_q(uuid), key)

    # ---------------------------------------------------------------- tasks
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
        resources: list[dict] | None = None,
        terminal_output: bool = False,
        watch: tuple[str, str] | list[str] | None = None,
    ) -> dict:
        """Submit one task: {task_id, uuid}."""
        spec = task_spec(args, envs=envs, resources=resources, terminal_output=terminal_output, watch=watch)
        return self._call(
            "POST", "/tasks", json=submit_request(group_name, spec, tags, labels, timeout, priority)
        )

    def submit_tasks(self, tasks: Iterable[Mapping[str, Any]]) -> dict:
        """Submit many SubmitTaskReq bodies at once: {results: [{"Ok": ...} | {"Err": ...}]}."""
        return self._call("POST", "/tasks/submit", json={"tasks": [dict(t) for t in tasks]})

    def query_tasks(
        self, *, limit: int | None = None, offset: int | None = None, count: bool = False, **filters
    ) -> dict:
        """Query tasks; filters as task_filter() takes them."""
        body = task_filter(**filters) | _drop_none(limit=limit, offset=offset, count=count)
        return self._call("POST", "/tasks/query", json=body)

    def cancel_tasks_by_filter(self, **filters) -> dict:
        return self._call("POST", "/tasks/cancel", json=task_filter(**filters))

    def cancel_tasks_by_uuids(self, uuids: Iterable[str]) -> dict:
        return self._call("POST", "/tasks/cancel/list", json={"uuids": list(uuids)})

    def download_artifacts_by_filter(self, content_type: str, **filters) -> dict:
        body = task_filter(**filters) | {"content_type": artifact_type(content_type)}
        return self._call("POST", "/tasks/download/artifacts", json=body)

    def download_artifacts_by_uuids(self, content_type: str, uuids: Iterable[str]) -> dict:
        body = {"uuids": list(uuids), "content_type": artifact_type(content_type)}
        return self._call("POST", "/tasks/download/artifacts/list", json=body)

    def delete_artifacts_by_filter(self, content_type: str, **filters) -> dict:
        body = task_filter(**filters) | {"content_type": artifact_type(content_type)}
        return self._call("POST", "/tasks/delete/artifacts", json=body)

    def delete_artifacts_by_uuids(self, content_type: str, uuids: Iterable[str]) -> dict:
        body = {"uuids": list(uuids), "content_type": artifact_type(content_type)}
        return self._call("POST", "/tasks/delete/artifacts/list", json=body)

    def get_task(self, uuid: str) -> dict:
        """{info, artifacts}."""
        return self._call("GET", f"/tasks/{_q(uuid)}")

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
        body = _drop_none(
            tags=_list(tags),
            timeout=timeout,
            priority=priority,
            task_spec=None if task_spec is None else dict(task_spec),
        )
        self._call("PUT", f"/tasks/{_q(uuid)}", json=body)

    def cancel_task(self, uuid: str) -> None:
        self._call("DELETE", f"/tasks/{_q(uuid)}")

    def update_task_labels(self, uuid: str, labels: Iterable[str]) -> None:
        self._call("PUT", f"/tasks/{_q(uuid)}/labels", json={"labels": list(labels)})

    def upload_artifact(self, uuid: str, content_type: str, content_length: int) -> dict:
        """Ask for a presigned PUT URL for a task artifact: {url}."""
        body = {"content_type": artifact_type(content_type), "content_length": content_length}
        return self._call("POST", f"/tasks/{_q(uuid)}/artifacts", json=body)

    def delete_artifact(self, uuid: str, content_type: str) -> None:
        self._call("DELETE", f"/tasks/{_q(uuid)}/artifacts/{artifact_type(content_type)}")

    def download_artifact(self, uuid: str, content_type: str) -> dict:
        """The presigned GET URL of a task artifact and its size: {url, size}."""
        path = f"/tasks/{_q(uuid)}/download/artifacts/{artifact_type(content_type)}"
        return self._call("GET", path, params={"redirect": "false"})

    # ---------------------------------------------------------------- admin
    def admin_create_user(self, username: str, password: str, *, admin: bool = False) -> None:
        body = {"username": username, "md5_password": md5_password(password), "admin": admin}
        self._call("POST", "/admin/users", json=body)

    def admin_delete_user(self, username: str) -> dict:
        return self._call("DELETE", f"/admin/users/{_q(username)}")

    def admin_change_password(self, username: str, new_password: str) -> None:
        body = {"new_md5_password": md5_password(new_password)}
        self._call("POST", f"/admin/users/{_q(username)}/password", json=body)

    def admin_change_group_quota(self, username: str, group_quota: str | int) -> dict:
        """Set ("10", "=10") or change ("+5", "-3") how many groups a user may create."""
        body = {"group_quota": str(group_quota)}
        return self._call("POST", f"/admin/users/{_q(username)}/group-quota", json=body)

    def admin_change_user_state(self, username: str, state: str) -> dict:
        return self._call("POST", f"/admin/users/{_q(username)}/state", json={"state": state})

    def admin_change_storage_quota(self, group_name: str, storage_quota: str | int) -> dict:
        body = {"storage_quota": str(storage_quota)}
        return self._call("POST", f"/admin/groups/{_q(group_name)}/storage-quota", json=body)

    def admin_shutdown_worker(self, uuid: str, *, op: str = "Graceful") -> None:
        self._call("DELETE", f"/admin/workers/{_q(uuid)}/", params={"op": op})

    def admin_delete_attachment(self, group_name: str, key: str) -> None:
        self._call("DELETE", f"/admin/groups/{_q(group_name)}/attachments/{_key(key)}")

    def admin_delete_artifact(self, uuid: str, content_type: str) -> None:
        self._call("DELETE", f"/admin/tasks/{_q(uuid)}/artifacts/{artifact_type(content_type)}")

    def admin_shutdown_coordinator(self, secret: str) -> None:
        self._call("POST", "/admin/shutdown", json={"secret": secret})

    # ---------------------------------------------------------------- helpers over several calls
    def wait_task(self, uuid: str, *, timeout: float | None = None, interval: float = 1.0) -> dict:
        """Poll until the task is done (archived with a result); returns its info. TimeoutError on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info = self.get_task(uuid)["info"]
            if info.get("result") is not None:
                return info
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"task {uuid} is still {info['state']} after {timeout:g}s")
            time.sleep(interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic())))

    def _absolute(self, url: str) -> str:
        return self.base_url + url if url.startswith("/") else url

    def put_bytes(self, url: str, source: Path | str, *, progress: Progress | None = None) -> int:
        """PUT a file to a presigned URL (streamed); returns the byte count."""
        url = self._absolute(url)
        path = Path(source)
        size = path.stat().st_size

        def chunks():
            done = 0
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    done += len(chunk)
                    yield chunk
                    if progress:
                        progress(done, size)

        headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        try:
            resp = self._client.put(url, content=chunks() if size else b"", headers=headers)
        except httpx.TransportError as exc:
            raise TransportError(f"upload to {url} failed: {exc}") from exc
        if resp.status_code >= 300:
            raise ApiError(
                resp.status_code, f"upload failed: {resp.text.strip()[:200] or resp.reason_phrase}"
            )
        if progress and not size:
            progress(0, 0)
        return size

    def fetch_bytes(
        self, url: str, dest: Path | str, *, size: int | None = None, progress: Progress | None = None
    ) -> int:
        """GET a presigned URL into a file (streamed); returns the byte count."""
        url = self._absolute(url)
        path = Path(dest)
        path.parent.mkdir(parents=True, exist_ok=True)
        done = 0
        try:
            with self._client.stream("GET", url) as resp:
                if resp.status_code >= 300:
                    resp.read()
                    raise ApiError(
                        resp.status_code, f"download failed: {resp.text.strip()[:200] or resp.reason_phrase}"
                    )
                total = size if size is not None else int(resp.headers.get("Content-Length") or 0)
                with path.open("wb") as fh:
                    for chunk in resp.iter_bytes(1 << 20):
                        fh.write(chunk)
                        done += len(chunk)
                        if progress:
                            progress(done, total)
        except httpx.TransportError as exc:
            raise TransportError(f"download from {url} failed: {exc}") from exc
        return done

    def put_attachment(
        self, group_name: str, key: str, source: Path | str, *, progress: Progress | None = None
    ) -> int:
        """Upload a local file as an attachment (URL + PUT)."""
        url = self.upload_attachment(group_name, key, Path(source).stat().st_size)["url"]
        return self.put_bytes(url, source, progress=progress)

    def fetch_attachment(
        self, group_name: str, key: str, dest: Path | str, *, progress: Progress | None = None
    ) -> int:
        """Download an attachment into a local file."""
        link = self.download_attachment(group_name, key)
        return self.fetch_bytes(link["url"], dest, size=link.get("size"), progress=progress)

    def put_artifact(
        self, uuid: str, content_type: str, source: Path | str, *, progress: Progress | None = None
    ) -> int:
        """Upload a local file as a task artifact (URL + PUT)."""
        url = self.upload_artifact(uuid, content_type, Path(source).stat().st_size)["url"]
        return self.put_bytes(url, source, progress=progress)

    def fetch_artifact(
        self, uuid: str, content_type: str, dest: Path | str, *, progress: Progress | None = None
    ) -> int:
        """Download a task artifact (a .tar.gz) into a local file."""
        link = self.download_artifact(uuid, content_type)
        return self.fetch_bytes(link["url"], dest, size=link.get("size"), progress=progress)


def submit_request(
    group_name: str,
    spec: Mapping[str, Any],
    tags: Iterable[str] = (),
    labels: Iterable[str] = (),
    timeout: str = "10m",
    priority: int = 0,
) -> dict[str, Any]:
    """A SubmitTaskReq body (for submit_tasks)."""
    return {
        "group_name": group_name,
        "tags": list(tags),
        "labels": list(labels),
        "timeout": timeout,
        "priority": priority,
        "task_spec": dict(spec),
    }
