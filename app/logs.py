"""Request and job logging of the coordinator: a request id per request, one access line per request.

Each request gets an id (the caller's `X-Request-ID` when it is a short token, else a new one), returned
in the `X-Request-ID` response header and bound to every line logged while the request runs. When the
response is ready, one line `METHOD PATH STATUS` records the caller (user or worker), the task the request
was about (a task uuid in the path, or the task a submit created or a fetch handed out) and the duration.
Celery jobs get the same treatment: their task id as request id, the job name and the duration.
The format (text or JSON) is `mito.logs`'s, chosen by MITO_LOG_FORMAT.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from mito import logs

log = logging.getLogger("mito.access")
job_log = logging.getLogger("mito.jobs")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Endpoints whose JSON response names the task the request was about (`uuid`).
_TASK_IN_RESPONSE = {"Tasks.submit_task", "Workers.fetch_task"}


def request_id() -> str:
    """This request's id (also in the X-Request-ID response header)."""
    return g.get("request_id", "")


def _start() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g.log_started = time.perf_counter()
    g.log_token = logs.bind(request_id=g.request_id)


def _task_of(resp: Response) -> str | None:
    rule = request.url_rule.rule if request.url_rule is not None else ""
    if "tasks/<uuid" in rule and request.view_args:
        return str(request.view_args.get("uuid"))
    if request.endpoint in _TASK_IN_RESPONSE and resp.status_code == 200 and resp.is_json:
        body = resp.get_json(silent=True)
        return str(body["uuid"]) if isinstance(body, dict) and body.get("uuid") else None
    return None


def _finish(resp: Response) -> Response:
    if "request_id" not in g:  # a request that failed before our before_request hook ran
        return resp
    resp.headers["X-Request-ID"] = g.request_id
    user, worker = g.get("current_user"), g.get("current_worker")
    fields = {
        "method": request.method,
        "path": request.path,
        "status": resp.status_code,
        "duration_ms": round((time.perf_counter() - g.log_started) * 1000, 2),
        "user": user.username if user is not None else None,
        "worker": str(worker.uuid) if worker is not None else None,
        "task": _task_of(resp),
    }
    log.info(
        "%s %s %s %.1fms", request.method, request.path, resp.status_code, fields["duration_ms"],
        extra={k: v for k, v in fields.items() if v is not None},
    )  # fmt: skip
    return resp


def _unbind(_exc: BaseException | None) -> None:
    token = g.pop("log_token", None)
    if token is not None:
        logs.reset(token)


def init_app(app: Flask) -> None:
    """Give every request an id and an access line."""
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_unbind)


def watch_celery() -> None:
    """Log every Celery job run (id, name, duration) in the MITO_LOG_FORMAT, and configure its logging."""
    from celery.signals import setup_logging, task_postrun, task_prerun

    started: dict[str, tuple[float, contextvars.Token]] = {}

    @setup_logging.connect(weak=False)
    def _setup(**_kwargs) -> None:
        logs.configure("jobs")

    @task_prerun.connect(weak=False)
    def _prerun(task_id=None, task=None, **_kwargs) -> None:
        started[task_id] = (time.perf_counter(), logs.bind(request_id=task_id, job=task.name))

    @task_postrun.connect(weak=False)
    def _postrun(task_id=None, task=None, state=None, **_kwargs) -> None:
        if task_id not in started:
            return
        begun, token = started.pop(task_id)
        duration = round((time.perf_counter() - begun) * 1000, 2)
        job_log.info(
            "job %s %s in %.1fms", task.name, state, duration, extra={"state": state, "duration_ms": duration}
        )
        logs.reset(token)
