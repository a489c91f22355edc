"""Exec states an agent announces, and when a watched task counts as having reached one (upstream 1.5)."""

from __future__ import annotations

from typing import Any

from mito.vocab import ExecState, TaskResultMessage, TaskState

S = ExecState
M = TaskResultMessage
_EXACT_ONLY = {
    S.FetchResourceError, S.FetchResourceTimeout, S.FetchResourceNotFound, S.FetchResourceForbidden,
    S.WatchTimeout, S.UploadFinishedResult, S.UploadCancelledResult, S.UploadResultFinished,
    S.UploadResultTimeout, S.TaskCommitted,
}  # fmt: skip
# The happy path in order; a target on it is reached by any later state on it (error states excluded).
_LATER = {
    S.FetchResourceFinished: {
        S.FetchResourceFinished,
        S.Watch,
        S.WatchFinished,
        S.ExecPending,
        S.ExecSpawned,
    },
    S.Watch: {S.Watch, S.WatchFinished, S.ExecPending, S.ExecSpawned},
    S.WatchFinished: {S.WatchFinished, S.ExecPending, S.ExecSpawned},
    S.ExecPending: {S.ExecPending, S.ExecSpawned},
    S.ExecSpawned: {S.ExecSpawned},
    S.ExecFinished: {S.ExecFinished, S.UploadFinishedResult},
    S.ExecTimeout: {S.ExecTimeout, S.UploadCancelledResult},
}
_AFTER_SPAWN = {
    S.ExecFinished, S.ExecTimeout, S.UploadResult, S.UploadFinishedResult, S.UploadCancelledResult,
    S.UploadResultFinished, S.UploadResultTimeout, S.TaskCommitted,
}  # fmt: skip
_UPLOAD_AND_AFTER = {
    S.UploadResult, S.UploadFinishedResult, S.UploadCancelledResult, S.UploadResultFinished,
    S.UploadResultTimeout, S.TaskCommitted,
}  # fmt: skip


def exec_state_reaches(current: ExecState, target: ExecState) -> bool:
    """True when a task announcing `current` has reached `target` (upstream TaskExecState::is_reach)."""
    if current in (S.WorkerExited, S.Unknown) or target in (S.WorkerExited, S.Unknown):
        return False
    if target == S.FetchResource:
        return 1 <= current <= 19
    if target in _EXACT_ONLY:
        return current == target
    if target == S.UploadResult:
        return current in _UPLOAD_AND_AFTER
    reached = set(_LATER[target])
    if target in (S.FetchResourceFinished, S.Watch, S.WatchFinished, S.ExecPending, S.ExecSpawned):
        reached |= _AFTER_SPAWN
    return current in reached


# What a task archived with a given result has been through (upstream TaskState::is_reach).
_SUCCESS_PATH = {
    S.FetchResource, S.FetchResourceFinished, S.Watch, S.WatchFinished, S.ExecPending, S.ExecSpawned,
    S.ExecFinished, S.UploadResult, S.UploadFinishedResult, S.UploadResultFinished, S.TaskCommitted,
}  # fmt: skip
_CANCELLED_BY_MSG: dict[TaskResultMessage, set[ExecState]] = {
    M.ExecTimeout: {
        S.FetchResource,
        S.FetchResourceFinished,
        S.Watch,
        S.WatchFinished,
        S.ExecPending,
        S.ExecSpawned,
        S.ExecTimeout,
        S.UploadResult,
        S.UploadCancelledResult,
        S.UploadResultFinished,
        S.TaskCommitted,
    },
    M.FetchResourceTimeout: {S.FetchResource, S.FetchResourceTimeout, S.TaskCommitted},
    M.ResourceNotFound: {S.FetchResource, S.FetchResourceNotFound, S.TaskCommitted},
    M.ResourceForbidden: {S.FetchResource, S.FetchResourceForbidden, S.TaskCommitted},
    M.WatchTimeout: {S.FetchResource, S.FetchResourceFinished, S.Watch, S.WatchTimeout, S.TaskCommitted},
}


def task_state_reaches(state: Any, result: dict[str, Any] | None, target: ExecState) -> bool:
    """Fallback on the coordinator's task state (a TaskState or its wire name) when no exec state is known."""
    state = _task_state(state)
    if state is TaskState.Running:
        return target == S.FetchResource
    if state is TaskState.Finished:
        if target in (S.UploadResultFinished, S.TaskCommitted):
            return result is not None
        return target in _SUCCESS_PATH
    if state is TaskState.Cancelled:
        msg = _result_message((result or {}).get("msg"))
        return target in _CANCELLED_BY_MSG.get(msg, {S.TaskCommitted}) if msg else target == S.TaskCommitted
    return False


def _task_state(value: Any) -> TaskState:
    try:
        return TaskState.parse(value)
    except ValueError:
        return TaskState.Unknown


def _result_message(value: Any) -> TaskResultMessage | None:
    try:
        return TaskResultMessage(value)
    except ValueError:
        return None


def watched_task_reaches(info: dict[str, Any], target: ExecState) -> bool | None:
    """Decide from a `GET /workers/tasks/{uuid}` body whether the watched task reached `target`.

    True: reached; False: it never will (it ended without reaching it); None: not yet, or cannot tell.
    """
    exec_state = info.get("exec_state")
    if exec_state is not None and exec_state_reaches(ExecState.parse(exec_state), target):
        return True
    state = _task_state(info.get("state"))
    if "result" not in info:
        if state is TaskState.Finished and exec_state is None:  # archived: committed with a result
            return True if task_state_reaches(state, {}, target) else None
        return True if task_state_reaches(state, None, target) else None
    if task_state_reaches(state, info["result"], target):
        return True
    ended = state in (TaskState.Finished, TaskState.Cancelled)
    return False if ended and info["result"] is not None else None
