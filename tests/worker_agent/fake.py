"""An in-memory coordinator and object store behind httpx.MockTransport, for the agent's unit tests."""

from __future__ import annotations

import itertools
import json
import threading
import uuid as uuidlib
from typing import Any

import httpx

BASE = "http://coordinator.test"


class FakeCoordinator:
    def __init__(self):
        self.lock = threading.Lock()
        self.tasks: dict[str, dict[str, Any]] = {}  # uuid -> task record
        self.queue: list[str] = []
        self.objects: dict[str, bytes] = {}  # store key -> bytes
        self.reports: list[tuple[str, Any]] = []  # (uuid, op)
        self.cancel: set[str] = set()
        self.fail_next: dict[str, list[int]] = {}  # "METHOD path-prefix" -> statuses to answer first
        self.worker_token = None
        self.worker_removed = False
        self.removal: str | None = None  # the `removed` reason a removed worker's 401 carries
        self.user_tokens = {"valid-user-token"}
        self.logins: list[dict] = []
        self.registered: list[dict] = []
        self.heartbeats = 0
        self.features: list[str] = []  # the protocol extensions registration offers (e.g. report_batch)
        self.requests: list[tuple[str, str]] = []  # (method, path) of every worker-token request
        self.batch_attempts: list[tuple[int, int | None]] = []  # (task id, attempt) each batch named
        self.unregistered = False
        self._ids = itertools.count(1)

    # -- test helpers
    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handle), base_url=BASE)

    def add_task(self, args: list[str], *, timeout: str = "1m", **spec: Any) -> str:
        uuid = str(uuidlib.uuid4())
        with self.lock:
            self.tasks[uuid] = {
                "id": next(self._ids), "uuid": uuid, "timeout": timeout, "upstream_task_uuid": None,
                "spec": {"args": args, **spec}, "state": "Ready", "exec_state": None, "result": None,
                "exec_states": [], "attempt": 0,
            }  # fmt: skip
            self.queue.append(uuid)
        return uuid

    def ops(self, uuid: str) -> list[Any]:
        return [
            op for u, op in self.reports if u == uuid and not (isinstance(op, dict) and "ExecState" in op)
        ]

    def artifact(self, uuid: str, content_type: str) -> bytes | None:
        return self.objects.get(f"artifacts/{uuid}/{content_type}.tar.gz")

    # -- the fake server
    def handle(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        for prefix, statuses in self.fail_next.items():
            if f"{method} {path}".startswith(prefix) and statuses:
                return _json(statuses.pop(0), {"msg": "injected failure", "error": "injected failure"})
        if path.startswith("/store/"):
            return self.store(request, path[len("/store/") :])
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if path == "/login":
            body = json.loads(request.content)
            self.logins.append(body)
            if body["username"] == "alice" and len(body["md5_password"]) == 16:
                return _json(200, {"token": "valid-user-token"})
            return _json(401, {"msg": "Wrong credentials"})
        if path == "/auth":
            if token in self.user_tokens:
                return httpx.Response(200, text="alice")
            return _json(401, {"msg": "Wrong credentials"})
        if path == "/workers" and method == "POST":
            if token not in self.user_tokens:
                return _json(401, {"msg": "Wrong credentials"})
            self.registered.append(json.loads(request.content))
            self.worker_token = "worker-token"
            return _json(
                200,
                {
                    "worker_id": str(uuidlib.uuid4()), "token": self.worker_token, "redis_url": None,
                    "features": self.features,
                },
            )  # fmt: skip
        if token != self.worker_token or self.worker_removed:
            return _json(
                401, {"msg": "Wrong credentials", **({"removed": self.removal} if self.removal else {})}
            )
        with self.lock:
            self.requests.append((method, path))
            return self.worker_route(request, path, method)

    def worker_route(self, request, path, method) -> httpx.Response:
        if path == "/workers" and method == "DELETE":
            self.unregistered = True
            return httpx.Response(200)
        if path == "/workers/heartbeat":
            self.heartbeats += 1
            return _json(200, {"cancel": sorted(self.cancel)})
        if path == "/workers/tasks" and method == "GET":
            task = self.claim()
            return httpx.Response(204) if task is None else _json(200, task)
        if path == "/workers/tasks" and method == "POST":
            return self.report(json.loads(request.content))
        if path == "/workers/tasks/batch" and method == "POST" and "report_batch" in self.features:
            return self.batch(json.loads(request.content))
        parts = path.split("/")
        if len(parts) == 4 and parts[2] == "tasks":
            task = self.tasks.get(parts[3])
            if task is None:
                return _json(404, {"msg": "not found"})
            return _json(200, {k: v for k, v in task.items() if k != "exec_states"})
        if len(parts) >= 6 and parts[4] == "artifacts":
            key = f"artifacts/{parts[3]}/{parts[5]}.tar.gz"
        elif len(parts) >= 6 and parts[4] == "attachments":
            key = "attachments/" + "/".join(parts[5:])
        else:
            return _json(404, {"msg": "no route"})
        if key not in self.objects:
            return _json(404, {"msg": "not found"})
        return _json(200, {"url": f"{BASE}/store/{key}", "size": len(self.objects[key])})

    def claim(self) -> dict[str, Any] | None:
        if not self.queue:
            return None
        task = self.tasks[self.queue.pop(0)]
        task["state"] = "Running"
        task["attempt"] += 1
        return {k: task[k] for k in ("id", "uuid", "timeout", "upstream_task_uuid", "spec", "attempt")}

    def batch(self, body) -> httpx.Response:
        """The report_batch extension: each op as a report (stopping at the first refusal), then `next`."""
        urls = []
        self.batch_attempts.append((body["id"], body.get("attempt")))
        for op in body["ops"]:
            resp = self.report({"id": body["id"], "op": op})
            if resp.status_code != 200:
                return resp
            if json.loads(resp.content).get("url"):
                urls.append(json.loads(resp.content)["url"])
        return _json(200, {"urls": urls, "next": self.claim() if body.get("next") else None})

    def report(self, body) -> httpx.Response:
        task = next((t for t in self.tasks.values() if t["id"] == body["id"]), None)
        if task is None or task["state"] not in ("Running", "Finished", "Cancelled"):
            return _json(404, {"msg": "Task not found"})
        op = body["op"]
        self.reports.append((task["uuid"], op))
        if op == "Finish":
            task["state"] = "Finished"
        elif op == "Cancel":
            task["state"] = "Cancelled"
        elif "ExecState" in op:
            task["exec_state"] = op["ExecState"]
            task["exec_states"].append(op["ExecState"])
        elif "Commit" in op:
            if task["state"] not in ("Finished", "Cancelled"):
                return _json(400, {"msg": "Task can not be marked as done"})
            task["result"] = op["Commit"]
            task["state"] = "Committed-" + task["state"]
        elif "Upload" in op:
            key = f"artifacts/{task['uuid']}/{op['Upload']['content_type']}.tar.gz"
            return _json(200, {"url": f"{BASE}/store/{key}"})
        elif "Submit" in op:
            return _json(200, {"url": None})
        return _json(200, {"url": None})

    def store(self, request, key) -> httpx.Response:
        if request.method == "PUT":
            data = request.read()
            assert int(request.headers["Content-Length"]) == len(data)
            self.objects[key] = data
            return httpx.Response(200)
        if key not in self.objects:
            return httpx.Response(404)
        return httpx.Response(200, content=self.objects[key])


def _json(status: int, body: Any) -> httpx.Response:
    return httpx.Response(status, json=body)
