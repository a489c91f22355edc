"""What the agent does with a claimed task (upstream-behaviour 3.2), as the conductor's step table.

Read STEPS top to bottom for the whole progression: fetch the resources, wait for a watched task, run the
command, report Finish or Cancel, upload the artifacts, submit a downstream task, commit. Each function
below is one step; it does its work and returns an Outcome, and the table says what follows.
Live output (chunks shipped while the command runs, worker_agent/output.py) starts once the command has
run for a tick (0.1 s) and ends, after a last shipment, when the command has ended: before Finish or Cancel
is reported.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from client.http import ApiError, TransportError
from client.transfer import absolute_url, get_file, put_file
from client.worker_api import CANCEL, FINISH, commit_op, upload_op
from mito.vocab import ArtifactContentType, OutputStream
from mito.vocab import ExecState as S
from mito.vocab import TaskResultMessage as M
from worker_agent import metrics
from worker_agent.backoff import is_transient
from worker_agent.conductor import END, AgentContext, Outcome, Step, Then
from worker_agent.output import OutputShipper
from worker_agent.runner import run_command
from worker_agent.task import TaskLost, TaskRun
from worker_agent.watch import wait_for_watched
from worker_agent.workspace import PathEscapes

log = logging.getLogger("mito.worker")


# ---------------------------------------------------------------- resources and watch
def fetch_resources(ctx: AgentContext, run: TaskRun) -> Outcome:
    """Download every resource into resource/; on failure `run.detail` names the resource."""
    deadline = run.claimed_at + ctx.config.fetch_timeout
    for res in run.spec.get("resources") or []:
        if run.cancel.is_set():
            return Outcome.CANCELLED
        remote, local = res.get("remote_file") or {}, res.get("local_path", "")
        try:
            dest = run.workspace.resource_path(local)
        except PathEscapes:
            log.warning("task %s: resource path %r leaves the resource directory", run.uuid, local)
            run.detail = f"resource path {local!r} leaves the resource directory"
            return Outcome.FORBIDDEN
        try:
            what, locate = _resource(ctx, run, remote)
        except ValueError as exc:  # the coordinator validates specs; this guards the agent, not the user
            run.detail = f"resource {local!r}: {exc}"
            return Outcome.FORBIDDEN
        try:
            info = ctx.link.call(f"locate {what}", locate, deadline=deadline)
        except ApiError as exc:
            log.warning("task %s: %s: %s", run.uuid, what, exc)
            if is_transient(exc):
                run.detail = f"{what}: the coordinator did not answer in time ({exc.message})"
                return Outcome.TIMED_OUT
            if exc.status == 404:
                run.detail = f"{what} not found"
                return Outcome.NOT_FOUND
            run.detail = f"{what}: {exc.message}"
            return Outcome.FORBIDDEN
        outcome = _download(ctx, run, what, str(info["url"]), dest, deadline)
        if outcome is not Outcome.OK:
            return outcome
    return Outcome.CANCELLED if run.cancel.is_set() else Outcome.OK


def _resource(
    ctx: AgentContext, run: TaskRun, remote: dict[str, Any]
) -> tuple[str, Callable[[], dict[str, Any]]]:
    """A RemoteResource in words, and the call that locates it."""
    api = ctx.link.api
    if "Artifact" in remote:
        uuid = str(remote["Artifact"]["uuid"])
        content_type = ArtifactContentType.parse(str(remote["Artifact"]["content_type"]))
        return f"artifact {content_type.wire} of task {uuid}", lambda: api.artifact_url(uuid, content_type)
    key = str((remote.get("Attachment") or {}).get("key", ""))
    return f"attachment '{key}'", lambda: api.attachment_url(run.uuid, key)


def _download(ctx: AgentContext, run: TaskRun, what: str, url: str, dest: Path, deadline: float) -> Outcome:
    url = absolute_url(ctx.config.coordinator, url)

    def attempt() -> int:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TransportError("the time for fetching resources ran out")
        return get_file(ctx.files, url, dest, timeout=min(ctx.config.download_timeout, left))

    try:
        size = ctx.link.backoff.retry(
            f"download of {what}", attempt, interrupt=ctx.control.forced, deadline=deadline
        )
    except ApiError as exc:
        log.warning("task %s: download of %s failed: %s", run.uuid, what, exc)
        run.detail = f"{what}: {exc.message}"
        return Outcome.TIMED_OUT if is_transient(exc) else Outcome.FORBIDDEN
    log.info("task %s: downloaded %s (%d bytes) to %s", run.uuid, what, size, dest)
    return Outcome.OK


def has_watch(run: TaskRun) -> bool:
    """The task waits for another one."""
    return bool(run.spec.get("watch"))


def wait_watch(ctx: AgentContext, run: TaskRun) -> Outcome:
    """Wait until the watched task reaches the exec state, within the fetch time limit."""
    deadline = run.claimed_at + ctx.config.fetch_timeout
    if not wait_for_watched(ctx.link, ctx.redis, ctx.config, run, deadline=deadline):
        return Outcome.TIMED_OUT
    return Outcome.CANCELLED if run.cancel.is_set() else Outcome.OK


# ---------------------------------------------------------------- the command
def exec_command(ctx: AgentContext, run: TaskRun) -> Outcome:
    """Run the command in its own process group until it exits, times out, or is cancelled."""
    ws = run.workspace
    own = {str(k): str(v) for k, v in (run.spec.get("envs") or {}).items()}
    own.update(ctx.config.task_env)  # the slot's own devices (--gpus) win over the task's envs
    own.update(
        MITO_RESULT_DIR=str(ws.result), MITO_EXEC_DIR=str(ws.exec), MITO_RESOURCE_DIR=str(ws.resource),
        MITO_TASK_UUID=run.uuid, MITO_NEW_TASK=str(ws.new_task),
    )  # fmt: skip
    if run.task.get("upstream_task_uuid"):
        own["MITO_UPSTREAM_TASK_UUID"] = str(run.task["upstream_task_uuid"])
    # The agent's environment (MITO_* left out) was read and encoded once, when the agent started.
    env = {**ctx.inherited_env, **{os.fsencode(k): os.fsencode(v) for k, v in own.items()}}
    files = {OutputStream.stdout: ws.stdout, OutputStream.stderr: ws.stderr}
    shipper = OutputShipper(ctx.link.api, run.id, files)

    def spawned(pid: int) -> None:
        run.pgid = pid
        ctx.watchdog.track(pid)
        ctx.announce(run, S.ExecSpawned)

    try:  # shipping starts once the command outlives a tick: a command that ends sooner costs no thread
        outcome = run_command(
            [str(a) for a in run.spec.get("args") or []], env=env, timeout=run.timeout,
            grace=ctx.config.kill_grace, stdout=ws.stdout, stderr=ws.stderr, stop=run.cancel,
            on_spawn=spawned, on_running=shipper.start,
        )  # fmt: skip
    finally:
        if run.pgid is not None:
            ctx.watchdog.untrack(run.pgid)
            shipper.stop()
    run.exit_status = outcome.exit_status
    if outcome.timed_out:
        log.info("task %s timed out: killed its process group", run.uuid)
        return Outcome.TIMED_OUT
    log.debug("task %s exited with status %d", run.uuid, outcome.exit_status)  # the commit's line says it
    return Outcome.CANCELLED if outcome.cancelled else Outcome.OK


# ---------------------------------------------------------------- reports, artifacts, commit
def report_finish(ctx: AgentContext, run: TaskRun) -> Outcome:
    """The command ended in time: Finish."""
    ctx.outbox.put(run, FINISH)
    return Outcome.OK


def report_cancel(ctx: AgentContext, run: TaskRun) -> Outcome:
    """The task will not finish: Cancel."""
    ctx.outbox.put(run, CANCEL)
    return Outcome.OK


class _StoreRefused(ApiError):
    """The store refused a PUT: worth another try with a fresh URL, until the upload deadline."""


def _upload_transient(exc: BaseException) -> bool:
    return isinstance(exc, _StoreRefused) or is_transient(exc)


def upload_artifacts(ctx: AgentContext, run: TaskRun) -> Outcome:
    """Pack and upload the artifacts; TIMED_OUT when the upload phase ran out of time."""
    deadline = time.monotonic() + ctx.config.upload_timeout
    for content_type, path in run.workspace.pack(bool(run.spec.get("terminal_output"))):
        if time.monotonic() >= deadline:
            log.warning("task %s: upload phase timed out", run.uuid)
            return Outcome.TIMED_OUT
        size = path.stat().st_size
        attempt = functools.partial(_upload, ctx, run, content_type, path, size, deadline)
        try:
            ctx.link.backoff.retry(
                f"upload of {content_type.wire}", attempt, interrupt=ctx.control.forced, deadline=deadline,
                transient=_upload_transient,
            )  # fmt: skip
        except ApiError as exc:
            if _upload_transient(exc):
                log.warning("task %s: upload phase timed out (%s)", run.uuid, exc)
                return Outcome.TIMED_OUT
            if exc.status == 404:
                raise TaskLost(exc.message) from exc
            log.warning("task %s: %s refused (%s): not uploaded", run.uuid, content_type.wire, exc)
            continue
        log.info("task %s: uploaded %s (%d bytes)", run.uuid, content_type.wire, size)
        metrics.UPLOADED.inc(size)
    return Outcome.OK


def _upload(
    ctx: AgentContext, run: TaskRun, content_type: ArtifactContentType, path: Path, size: int, deadline: float
) -> None:
    """One try: a presigned URL from the coordinator, then the PUT."""
    op = upload_op(content_type, size)
    answer = ctx.outbox.send(run, f"upload {content_type.wire}", [op], deadline=deadline)
    url = absolute_url(ctx.config.coordinator, answer.urls[0])
    try:
        put_file(ctx.files, url, path, timeout=ctx.config.upload_timeout)
    except ApiError as exc:
        raise _StoreRefused(exc.status, exc.message) from exc


def submit_new_task(ctx: AgentContext, run: TaskRun) -> Outcome:
    """Submit the downstream task the command wrote to MITO_NEW_TASK, if any."""
    path = run.workspace.new_task
    if not path.is_file() or path.stat().st_size == 0:
        return Outcome.OK
    try:
        req = json.loads(path.read_text())
        ctx.outbox.send(run, "submit", [{"Submit": req}])
    except ValueError as exc:
        log.warning("task %s: cannot submit the new task: %s", run.uuid, exc)
        return Outcome.FAILED
    except ApiError as exc:
        if is_transient(exc):
            raise
        log.warning("task %s: cannot submit the new task: %s", run.uuid, exc)
        return Outcome.FAILED
    log.info("task %s: submitted its downstream task", run.uuid)
    return Outcome.OK


def commit(ctx: AgentContext, run: TaskRun) -> Outcome:
    """Commit the result: exit status, result message and, on a failure, its detail.

    Unless the agent is stopping (or an exclusive task waits for the host), the commit asks for the next
    task too (report_batch): its answer is `run.next_task`, which the agent runs without a fetch.
    """
    op = commit_op(run.exit_status, run.msg, run.detail)
    try:
        answer = ctx.outbox.send(run, "commit", [op], claim_next=ctx.wants_next())
    except TaskLost:
        log.warning("commit of task %s answered 404: it was committed or reassigned meanwhile", run.uuid)
        return Outcome.LOST
    run.next_task = answer.next
    log.info("committed task %s: exit_status=%d msg=%s", run.uuid, run.exit_status, run.msg)
    return Outcome.OK


# ---------------------------------------------------------------- the table
FIRST = "fetch"
STEPS: dict[str, Step] = {
    "fetch": Step(fetch_resources, enters=(S.FetchResource,), abortable=True, then={
        Outcome.OK: Then("watch"),
        Outcome.NOT_FOUND: Then("give_up", S.FetchResourceNotFound, M.ResourceNotFound),
        Outcome.FORBIDDEN: Then("give_up", S.FetchResourceForbidden, M.ResourceForbidden),
        Outcome.TIMED_OUT: Then("give_up", S.FetchResourceTimeout, M.FetchResourceTimeout),
        Outcome.CANCELLED: Then("give_up", msg=M.UserCancellation),
    }),
    "watch": Step(wait_watch, enters=(S.Watch,), when=has_watch, abortable=True, then={
        Outcome.OK: Then("exec"),
        Outcome.TIMED_OUT: Then("give_up", S.WatchTimeout, M.WatchTimeout),
        Outcome.CANCELLED: Then("give_up", msg=M.UserCancellation),
    }),
    "give_up": Step(report_cancel, then={Outcome.OK: Then("commit")}),
    "exec": Step(exec_command, enters=(S.ExecPending,), abortable=True, then={
        Outcome.OK: Then("finish"),
        Outcome.TIMED_OUT: Then("cancel", msg=M.ExecTimeout),
        Outcome.CANCELLED: Then("cancel", msg=M.UserCancellation),
    }),
    "finish": Step(report_finish, enters=(S.ExecFinished, S.UploadResult), then={
        Outcome.OK: Then("upload_finished"),
    }),
    "cancel": Step(report_cancel, enters=(S.ExecTimeout, S.UploadResult), then={
        Outcome.OK: Then("upload_cancelled"),
    }),
    "upload_finished": Step(upload_artifacts, enters=(S.UploadFinishedResult,), then={
        Outcome.OK: Then("submit", S.UploadResultFinished),
        Outcome.TIMED_OUT: Then("commit", S.UploadResultTimeout, M.UploadResultTimeout),
    }),
    "upload_cancelled": Step(upload_artifacts, enters=(S.UploadCancelledResult,), then={
        Outcome.OK: Then("commit", S.UploadResultFinished),
        Outcome.TIMED_OUT: Then("commit", S.UploadResultTimeout, M.UploadResultTimeout),
    }),
    "submit": Step(submit_new_task, then={
        Outcome.OK: Then("commit"),
        Outcome.FAILED: Then("commit", msg=M.SubmitNewTaskFailed),
    }),
    "commit": Step(commit, then={Outcome.OK: Then(END, S.TaskCommitted), Outcome.LOST: Then(END)}),
}  # fmt: skip
