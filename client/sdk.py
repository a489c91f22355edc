"""The Mitosis Python SDK: one typed method per operation of the REST API (spec/openapi.yaml).

    from client.sdk import Mitosis
    mito = Mitosis("http://127.0.0.1:5000")
    mito.login("alice", "secret")                  # stores the token; the user's other sessions stay valid
    task = mito.submit_task(group_name="alice", args=["echo", "hi"])
    mito.wait_task(task["uuid"])
    mito.fetch_artifact(task["uuid"], "result", "result.tar.gz")

Every method returns the decoded JSON body (None for the spec's empty 200s) and raises
client.http.ApiError(status, message) for error answers. `OPERATIONS` maps each spec operationId to
its method. Worker-token operations take the worker token explicitly (the agent's own client is
client/worker_api.py). The operations live in client/operations/ (one module per spec tag), the request
bodies are built by client/bodies.py (its builders are re-exported here).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from client import collect, live_output, transfer
from client.bodies import (
    Json,
    artifact_resource,
    artifact_type,
    attachment_resource,
    submit_request,
    task_filter,
    task_spec,
)
from client.http import ApiError, HttpClient, TransportError
from client.operations.account import AccountOperations
from client.operations.admin import AdminOperations
from client.operations.campaigns import CampaignOperations
from client.operations.groups import GroupOperations
from client.operations.tasks import TaskOperations
from client.operations.workers import WorkerOperations
from client.transfer import Progress
from client.worker_api import md5_password

__all__ = [
    "OPERATIONS",
    "ApiError",
    "Mitosis",
    "TransportError",
    "artifact_resource",
    "artifact_type",
    "attachment_resource",
    "md5_password",
    "submit_request",
    "task_filter",
    "task_spec",
]

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


# Extension operationId (served, not in the spec) -> Mitosis method name
EXTENSION_OPERATIONS: dict[str, str] = {
    "createCampaign": "create_campaign",
    "listCampaigns": "list_campaigns",
    "getCampaign": "get_campaign",
    "getCampaignStatus": "campaign_status",
    "listCampaignTasks": "campaign_tasks",
    "cancelCampaign": "cancel_campaign",
    "retryCampaign": "retry_campaign",
    "explainTask": "explain_task",
    "getTaskOutput": "task_output",
    "shipTaskOutput": "worker_ship_output",
}


class Mitosis(
    AccountOperations, GroupOperations, WorkerOperations, TaskOperations, AdminOperations, CampaignOperations
):
    """A client of one coordinator. `token` is the user's JWT; `login` sets it.

    The operations come from client/operations/, one module per spec tag; this class adds the helpers
    that span several calls (waiting, moving bytes through presigned URLs).
    """

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
        """The coordinator's URL, without a trailing slash."""
        return self.http.base_url

    @property
    def token(self) -> str | None:
        """The user token sent as the bearer (None before `login`)."""
        return self.http.token

    @token.setter
    def token(self, value: str | None) -> None:
        self.http.token = value

    def close(self) -> None:
        """Close the HTTP connections."""
        self.http.close()

    def __enter__(self) -> Mitosis:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- helpers over several calls
    def wait_task(
        self,
        uuid: str,
        *,
        timeout: float | None = None,
        interval: float = 1.0,
        on_poll: Callable[[Json], None] | None = None,
    ) -> Json:
        """Poll until the task is done (archived with a result); returns its info. TimeoutError on timeout.

        `on_poll(info)` sees every answer, e.g. to show the state as it changes.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            info: Json = self.get_task(uuid)["info"]
            if on_poll is not None:
                on_poll(info)
            if info.get("result") is not None:
                return info
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"task {uuid} is still {info['state']} after {timeout:g}s")
            time.sleep(interval if deadline is None else max(0.0, min(interval, deadline - time.monotonic())))

    def task_logs(
        self, uuid: str, *, stream: str = "stdout", follow: bool = False, tail: int | None = None
    ) -> Iterator[str]:
        """The task's stdout (or stderr) as text pieces: live while it runs (`follow`: until it ends), from
        its std-log artifact once it has ended; `tail` keeps only the last N lines of what exists already.

        Raises live_output.NoOutputKept for an ended task whose output was not kept.
        """
        return live_output.task_logs(self, uuid, stream=stream, follow=follow, tail=tail)

    def put_bytes(self, url: str, source: Path | str, *, progress: Progress | None = None) -> int:
        """PUT a file to a presigned URL (streamed); returns the byte count."""
        return transfer.put_file(
            self._client, transfer.absolute_url(self.base_url, url), source, progress=progress
        )

    def fetch_bytes(
        self, url: str, dest: Path | str, *, size: int | None = None, progress: Progress | None = None
    ) -> int:
        """GET a presigned URL into a file (streamed); returns the byte count."""
        url = transfer.absolute_url(self.base_url, url)
        return transfer.get_file(self._client, url, dest, size=size, progress=progress)

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

    def collect_campaign(
        self,
        group_name: str,
        name: str,
        results_dir: Path | str | None = None,
        *,
        jobs: int = 8,
        progress: Progress | None = None,
        frame: bool = True,
    ) -> Any:
        """One row per task of the campaign, with the values each wrote to `$MITO_RESULT_DIR/result.json`.

        Results are fetched `jobs` at a time into `results_dir` (default: ./NAME), once: a later call
        fetches only new ones. Returns a pandas DataFrame when pandas is installed (and `frame`), else a
        list of dicts; client.collect documents the columns.
        """
        collected = collect.collect(
            self, group_name, name, Path(results_dir or name), jobs=jobs, progress=progress
        )
        return collect.as_frame(collected.rows, collected.columns) if frame else collected.rows
