"""Worker-side operations of the coordinator API (the agent's SDK), built on client/http.py.

One method per spec operation of the Workers tag that an agent calls, plus login and `/auth` which an agent
needs before it registers. Every method raises ApiError (TransportError when the coordinator is down).
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

from client.http import HttpClient
from mito.vocab import ArtifactContentType, ExecState

DETAIL_MAX = 1000  # characters of a result's detail (the coordinator takes up to 4096)


def md5_password(password: str) -> list[int]:
    """The wire form of a password: the 16 MD5 bytes as a list of ints."""
    return list(hashlib.md5(password.encode()).digest())


class WorkerApi:
    """Typed calls for a worker agent. `http.token` is the worker token once `register` succeeded."""

    def __init__(self, http: HttpClient):
        self.http = http

    # -- user side: what an agent needs before it has a worker token
    def login(self, username: str, password: str, *, retain: bool = True) -> str:
        """Log in as a user and return the user token (retain keeps the user's other sessions valid)."""
        body = {"username": username, "md5_password": md5_password(password), "retain": retain}
        return str(self.http.json("POST", "/login", json=body)["token"])

    def auth(self, user_token: str) -> str:
        """Return the username a user token belongs to (401 when the token is no longer valid)."""
        return self.http.request("GET", "/auth", token=user_token).text.strip()

    def register(
        self,
        user_token: str,
        *,
        tags: list[str],
        groups: list[str],
        labels: list[str] | None = None,
        lifetime: str | None = None,
    ) -> dict[str, Any]:
        """Register a worker; return `{worker_id, token, redis_url}` and use the worker token from now on."""
        body: dict[str, Any] = {"tags": tags, "groups": groups}
        if labels:
            body["labels"] = labels
        if lifetime:
            body["lifetime"] = lifetime
        resp: dict[str, Any] = self.http.json("POST", "/workers", json=body, token=user_token)
        self.http.token = resp["token"]
        return resp

    # -- worker side
    def unregister(self) -> None:
        """Remove this worker; a task it holds goes back to Ready."""
        self.http.request("DELETE", "/workers")

    def heartbeat(self) -> list[str]:
        """Send a heartbeat; return the uuids of tasks the agent must cancel."""
        body = self.http.json("POST", "/workers/heartbeat")
        if isinstance(body, dict):
            return [str(u) for u in body.get("cancel") or []]
        return []

    def fetch(self) -> dict[str, Any] | None:
        """Claim the next task (a WorkerTaskResp), or None when there is nothing to do."""
        resp = self.http.request("GET", "/workers/tasks", ok=(200, 204))
        if resp.status_code == 204 or not resp.content:
            return None
        task: dict[str, Any] = resp.json()
        return task

    def report(self, task_id: int, op: Any) -> dict[str, Any]:
        """Send one report op for a claimed task; return the ReportTaskResp."""
        resp: dict[str, Any] = self.http.json("POST", "/workers/tasks", json={"id": task_id, "op": op}) or {}
        return resp

    def report_finish(self, task_id: int) -> None:
        """The command ended in time: the task becomes Finished until the commit."""
        self.report(task_id, FINISH)

    def report_cancel(self, task_id: int) -> None:
        """The task will not finish (timeout, cancellation, missing resource): it becomes Cancelled."""
        self.report(task_id, CANCEL)

    def report_commit(
        self, task_id: int, exit_status: int, msg: str | None = None, detail: str | None = None
    ) -> None:
        """Archive the task with its result; `detail` (an extension) says in words what went wrong."""
        self.report(task_id, commit_op(exit_status, msg, detail))

    def report_upload(
        self, task_id: int, content_type: ArtifactContentType | str, content_length: int
    ) -> str:
        """Ask for a presigned PUT URL for one artifact of the claimed task."""
        return str(self.report(task_id, upload_op(content_type, content_length))["url"])

    def report_submit(self, task_id: int, submit_req: dict[str, Any]) -> dict[str, Any]:
        """Spawn a Pending downstream task of the claimed task."""
        return self.report(task_id, {"Submit": submit_req})

    def report_batch(
        self, task_id: int, ops: list[Any], *, claim_next: bool = False, attempt: int | None = None
    ) -> dict[str, Any]:
        """Extension `report_batch`: several report ops in order, all or none; `{urls, next}`.

        `claim_next` (with a Commit last) claims the worker's next task in the same request (`next`).
        `attempt` (the claim answer's) applies the batch only while that attempt holds the task.
        """
        body: dict[str, Any] = {"id": task_id, "ops": ops, "next": claim_next}
        if attempt is not None:
            body["attempt"] = attempt
        resp: dict[str, Any] = self.http.json("POST", "/workers/tasks/batch", json=body)
        return resp

    def report_exec_state(self, task_id: int, exec_state: ExecState) -> None:
        """Tell the coordinator how far the task got (progress information, best effort)."""
        self.report(task_id, exec_state_op(exec_state))

    def ship_output(
        self, task_id: int, chunks: list[dict[str, Any]], *, timeout: float | None = None
    ) -> None:
        """Ship live-output chunks (`{stream, data, skipped}`) of the claimed task (extension)."""
        self.http.request(
            "POST", "/workers/tasks/output", json={"id": task_id, "chunks": chunks}, timeout=timeout
        )

    def get_task(self, uuid: str) -> dict[str, Any]:
        """WorkerTaskResp of any task the worker may see, plus `state` and `exec_state`."""
        info: dict[str, Any] = self.http.json("GET", f"/workers/tasks/{uuid}")
        return info

    def artifact_url(self, uuid: str, content_type: ArtifactContentType | str) -> dict[str, Any]:
        """`{url, size}` of another task's artifact."""
        path = f"/workers/tasks/{uuid}/artifacts/{_content_type(content_type).wire}"
        link: dict[str, Any] = self.http.json("GET", path, params={"redirect": "false"})
        return link

    def attachment_url(self, task_uuid: str, key: str) -> dict[str, Any]:
        """`{url, size}` of an attachment of the group of the claimed task `task_uuid`."""
        path = f"/workers/tasks/{task_uuid}/attachments/{quote(key, safe='/')}"
        link: dict[str, Any] = self.http.json("GET", path, params={"redirect": "false"})
        return link


# ---------------------------------------------------------------- ReportTaskOp in its wire form
FINISH = "Finish"
CANCEL = "Cancel"


def commit_op(exit_status: int, msg: str | None = None, detail: str | None = None) -> dict[str, Any]:
    """Commit with the TaskResultSpec; `detail` (an extension) is cut to DETAIL_MAX characters."""
    result: dict[str, Any] = {"exit_status": exit_status, "msg": msg}
    if detail is not None:
        result["detail"] = detail[:DETAIL_MAX]
    return {"Commit": result}


def upload_op(content_type: ArtifactContentType | str, content_length: int) -> dict[str, Any]:
    """Upload: ask where to put one artifact of `content_length` bytes."""
    return {"Upload": {"content_type": _content_type(content_type).wire, "content_length": content_length}}


def exec_state_op(exec_state: ExecState) -> dict[str, Any]:
    """ExecState: how far the task got."""
    return {"ExecState": exec_state.name}


def _content_type(value: ArtifactContentType | str) -> ArtifactContentType:
    """A member as given, or parsed from its wire name or an upstream alias (ValueError otherwise)."""
    return value if isinstance(value, ArtifactContentType) else ArtifactContentType.parse(value)
