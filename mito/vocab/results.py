"""Why a task ended without success: the spec's TaskResultMessage, carried as `result.msg`."""

from __future__ import annotations

import enum


class TaskResultMessage(enum.StrEnum):
    """The member's value is its wire spelling; `msg` is null when the command ran and ended in time."""

    FetchResourceTimeout = "FetchResourceTimeout"
    ExecTimeout = "ExecTimeout"
    UploadResultTimeout = "UploadResultTimeout"
    ResourceNotFound = "ResourceNotFound"
    ResourceForbidden = "ResourceForbidden"
    WatchTimeout = "WatchTimeout"
    UserCancellation = "UserCancellation"
    SubmitNewTaskFailed = "SubmitNewTaskFailed"
