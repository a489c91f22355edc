"""Enumerations stored as integers; their names are the spec's JSON spellings."""

from __future__ import annotations

import enum

from mito.exec_state import ExecState


class UserState(enum.IntEnum):
    Active = 0
    Locked = 1
    Deleted = 2


class GroupState(enum.IntEnum):
    Active = 0
    Locked = 1
    Deleted = 2


class Role(enum.IntEnum):
    """UserGroupRole and GroupWorkerRole: Read < Write < Admin."""

    Read = 0
    Write = 1
    Admin = 2


class WorkerState(enum.IntEnum):
    Normal = 0
    GracefulShutdown = 1


class TaskState(enum.IntEnum):
    Pending = 0
    Ready = 1
    Running = 2
    Finished = 3
    Cancelled = 4
    Unknown = 5


TaskExecState = ExecState  # one definition, shared with the agent (mito/exec_state.py)


class ArtifactContentType(enum.IntEnum):
    Result = 0
    ExecLog = 1
    StdLog = 2

    @property
    def wire(self) -> str:
        return ("result", "exec-log", "std-log")[self.value]

    @property
    def filename(self) -> str:
        return f"{self.wire}.tar.gz"

    @classmethod
    def parse(cls, text: str) -> ArtifactContentType:
        """Accept the wire names and the upstream aliases (Result, exec, ExecLog, std, terminal...)."""
        key = text.strip().lower().replace("_", "-")
        aliases = {
            "result": cls.Result,
            "exec-log": cls.ExecLog, "execlog": cls.ExecLog, "exec": cls.ExecLog,
            "std-log": cls.StdLog, "stdlog": cls.StdLog, "std": cls.StdLog, "terminal": cls.StdLog,
        }  # fmt: skip
        if key not in aliases:
            raise ValueError(f"unknown artifact content type {text!r} (expected result, exec-log or std-log)")
        return aliases[key]


ATTACHMENT_CONTENT_TYPE = "application/octet-stream"
