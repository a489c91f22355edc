"""What agents say about the task they hold: Finish, Cancel, Commit, Upload, Submit, ExecState.

Every claim is an attempt: a report from a worker that no longer holds the task (it was reassigned,
cancelled and archived, or the worker was removed) is refused with 404 and changes nothing.
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa

from app import db
from app.errors import Conflict, Forbidden, InvalidRequest, NotFound, WrongCredentials
from app.models import ActiveTask, GroupWorker, Role, TaskState, UserState, Worker, WorkerState
from app.services import dispatch
from app.services import task as task_service
from app.services import worker as worker_service

DONE = (TaskState.Finished, TaskState.Cancelled)


def worker_task(task) -> dict:
    """WorkerTaskResp fields (+ state and exec_state for getTaskForWorker)."""
    return {
        "id": task.id,
        "uuid": task.uuid,
        "timeout": task.timeout,
        "upstream_task_uuid": task.upstream_task_uuid,
        "spec": task.spec,
        "state": task.state,
        "exec_state": getattr(task, "exec_state", None),
    }


def fetch_task(*, worker: Worker) -> dict | None:
    """Claim the next task for this worker, or None (204)."""
    task = dispatch.fetch_task(worker=worker)
    return worker_task(task) if task is not None else None


def get_task_for_worker(*, worker: Worker, task_uuid) -> dict:
    """Any task by uuid (active or archived), for agents: watchers poll it without Redis."""
    task = task_service.find_task(task_uuid)
    if task is None:
        raise NotFound(f"Task with uuid {task_uuid} not found")
    return worker_task(task)


@db.transactional
def report_task(*, worker: Worker, task_id: int, op: tuple[str, object]) -> dict:
    """Apply one report op to the task this worker holds."""
    kind, payload = op
    worker = dispatch.lock_worker(worker)
    if worker is None:
        raise WrongCredentials()
    task = dispatch.lock_task(ActiveTask.id == task_id)
    if task is None or task.assigned_worker != worker.id:
        raise NotFound(f"Task {task_id} not found or no longer held by this worker")
    url = None
    if kind == "Finish":
        task.state = TaskState.Finished
    elif kind == "Cancel":
        task.state = TaskState.Cancelled
    elif kind == "ExecState":
        task.exec_state = payload
    elif kind == "Commit":
        _commit(worker, task, payload)
    elif kind == "Upload":
        url = _upload(worker, task, payload)
    elif kind == "Submit":
        _submit_downstream(worker, task, payload)
    return {"url": url}


def _commit(worker: Worker, task: ActiveTask, result: dict) -> None:
    if task.state not in DONE:
        raise InvalidRequest(
            f"Task can not be marked as done: it is {task.state.name}, not Finished or Cancelled"
        )
    downstream = task.downstream_task_uuid
    dispatch.archive(task, state=task.state, result=dict(result), reporter_uuid=worker.uuid)
    worker.assigned_task_id = None
    if downstream is not None:
        pending = dispatch.lock_task(ActiveTask.uuid == downstream)
        if pending is not None and pending.state == TaskState.Pending:
            dispatch.make_ready(pending)
    if worker.state == WorkerState.GracefulShutdown:
        worker_service.remove_worker(worker=worker, reason="graceful shutdown")
    db.session.flush()


def _upload(worker: Worker, task: ActiveTask, payload: dict) -> str:
    try:
        storage = importlib.import_module("app.services.storage")
        upload = storage.worker_upload_artifact
    except (ImportError, AttributeError):
        raise InvalidRequest(
            "Artifact upload is not available on this coordinator (no storage service)"
        ) from None
    return upload(
        worker=worker,
        task=task,
        content_type=payload["content_type"],
        content_length=payload["content_length"],
    )


def _submit_downstream(worker: Worker, task: ActiveTask, req: dict) -> None:
    if task.state not in DONE:
        raise InvalidRequest("Task can not spawn new tasks before it is Finished or Cancelled")
    if task.downstream_task_uuid is not None:
        raise Conflict(f"Task {task.uuid} already spawned downstream task {task.downstream_task_uuid}")
    if task.creator.state != UserState.Active:
        raise Forbidden("Authentication error: Permission denied (the task's creator is not active)")
    if req["group_name"] != task.group.group_name:
        raise InvalidRequest(f"Group name mismatch: a downstream task must go to {task.group.group_name}")
    role = db.session.scalar(
        sa.select(GroupWorker.role).where(
            GroupWorker.worker_id == worker.id, GroupWorker.group_id == task.group_id
        )
    )
    if role is None or role < Role.Write:
        raise Forbidden("Authentication error: Permission denied (the worker has no Write role in the group)")
    new = task_service.create_task(
        creator=task.creator, group=task.group, req=req, state=TaskState.Pending, upstream_uuid=task.uuid
    )
    task.downstream_task_uuid = new.uuid
