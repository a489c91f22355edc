"""Worker-side operations of the coordinator API (the agent's SDK), built on client/http.py.

One method per spec operation of the Workers tag that an agent calls, plus login and `/auth` which an agent
needs before it registers. Every method raises ApiError (TransportError when the coordinator is down).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any
from urllib.parse import quote

import httpx

from client.http import HttpClient


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
        return self.http.json("POST", "/login", json=body)["token"]

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
        resp = self.http.json("POST", "/workers", json=body, token=user_token)
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
        return resp.json()

    def report(self, task_id: int, op: Any) -> dict[str, Any]:
        """Send one report op for a claimed task; return the ReportTaskResp."""
        return self.http.json("POST", "/workers/tasks", json={"id": task_id, "op": op}) or {}

    def report_finish(self, task_id: int) -> None:
        self.report(task_id, "Finish")

    def report_cancel(self, task_id: int) -> None:
        self.report(task_id, "Cancel")

    def report_commit(self, task_id: int, exit_status: int, msg: str | None = None) -> None:
        self.report(task_id, {"Commit": {"exit_status": exit_status, "msg": msg}})

    def report_upload(self, task_id: int, content_type: str, content_length: int) -> str:
        """Ask for a presigned PUT URL for one artifact (`result`, `exec-log`, `std-log`)."""
        op = {"Upload": {"content_type": content_type, "content_length": content_length}}
        return self.report(task_id, op)["url"]

    def report_submit(self, task_id: int, submit_req: dict[str, Any]) -> dict[str, Any]:
        """Spawn a Pending downstream task of the claimed task."""
        return self.report(task_id, {"Submit": submit_req})

    def report_exec_state(self, task_id: int, exec_state: str) -> None:
        self.report(task_id, {"ExecState": exec_state})

    def get_task(self, uuid: str) -> dict[str, Any]:
        """WorkerTaskResp of any task the worker may see, plus `state` and `exec_state`."""
        return self.http.json("GET", f"/workers/tasks/{uuid}")

    def artifact_url(self, uuid: str, content_type: str) -> dict[str, Any]:
        """`{url, size}` of another task's artifact."""
        path = f"/workers/tasks/{uuid}/artifacts/{content_type}"
        return self.http.json("GET", path, params={"redirect": "false"})

    def attachment_url(self, task_uuid: str, key: str) -> dict[str, Any]:
        """`{url, size}` of an attachment of the group of the claimed task `task_uuid`."""
        path = f"/workers/tasks/{task_uuid}/attachments/{quote(key, safe='/')}"
        return self.http.json("GET", path, params={"redirect": "false"})


def download_to(client: httpx.Client, url: str, dest, *, timeout: float = 120.0) -> int:
    """Stream a presigned GET URL into the file `dest`; return its size (httpx.HTTPError on failure)."""
    written = 0
    with client.stream("GET", url, timeout=timeout, follow_redirects=True) as resp:
        resp.raise_for_status()
        with open(dest, "wb") as out:
            for chunk in resp.iter_bytes(1 << 16):
                out.write(chunk)
                written += len(chunk)
    return written


def upload_file(client: httpx.Client, url: str, path, *, timeout: float = 600.0) -> None:
    """PUT a file to a presigned URL with its Content-Length (httpx.HTTPError on failure)."""
    size = os.path.getsize(path)
    with open(path, "rb") as body:
        chunks = iter(lambda: body.read(1 << 16), b"")
        resp = client.put(url, content=chunks, headers={"Content-Length": str(size)}, timeout=timeout)
    resp.raise_for_status()
