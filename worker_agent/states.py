"""Exec states an agent announces, and when a watched task counts as having reached one (upstream 1.5)."""

from __future__ import annotations

from typing import Any

from mito.exec_state import ExecState

S = ExecState
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
_CANCELLED_BY_MSG = {
    "ExecTimeout": {
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
    "FetchResourceTimeout": {S.FetchResource, S.FetchResourceTimeout, S.TaskCommitted},
    "ResourceNotFound": {S.FetchResource, S.FetchResourceNotFound, S.TaskCommitted},
    "ResourceForbidden": {S.FetchResource, S.FetchResourceForbidden, S.TaskCommitted},
    "WatchTimeout": {S.FetchResource, S.FetchResourceFinished, S.Watch, S.WatchTimeout, S.TaskCommitted},
}


def task_state_reaches(state: str | None, result: dict[str, Any] | None, target: ExecState) -> bool:
    """Fallback on the coordinator's task state when no exec state is known."""
    if state == "Running":
        return target == S.FetchResource
    if state == "Finished":
        if target in (S.UploadResultFinished, S.TaskCommitted):
            return result is not None
        return target in _SUCCESS_PATH
    if state == "Cancelled":
        msg = (result or {}).get("msg")
        return target in _CANCELLED_BY_MSG.get(msg, {S.TaskCommitted})
    return False


def watched_task_reaches(info: dict[str, Any], target: ExecState) -> bool | None:
    """Decide from a `GET /workers/tasks/{uuid}` body whether the watched task reached `target`.

    True: reached; False: it never will (it ended without reaching it); None: not yet, or cannot tell.
    """
    exec_state = info.get("exec_state")
    if exec_state is not None and exec_state_reaches(ExecState.parse(exec_state), target):
        return True
    state = info.get("state")
    if "result" not in info:
        if state == "Finished" and exec_state is None:  # archived: committed with a result
            return True if task_state_reaches(state, {}, target) else None
        return True if task_state_reaches(state, None, target) else None
    if task_state_reaches(state, info["result"], target):
        return True
    return False if state in ("Finished", "Cancelled") and info["result"] is not None else None
