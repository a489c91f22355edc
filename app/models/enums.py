"""Enumerations stored as integers; their names are the spec's JSON spellings (defined in mito.vocab)."""

from __future__ import annotations

from mito.vocab import (
    ATTACHMENT_CONTENT_TYPE,
    ArtifactContentType,
    ExecState,
    GroupState,
    Role,
    ShutdownOp,
    TaskState,
    UserState,
    WorkerState,
)

TaskExecState = ExecState  # the spec's name for it

__all__ = [
    "ATTACHMENT_CONTENT_TYPE",
    "ArtifactContentType",
    "GroupState",
    "Role",
    "ShutdownOp",
    "TaskExecState",
    "TaskState",
    "UserState",
    "WorkerState",
]
