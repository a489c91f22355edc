"""Task, exec, worker, user and group states: the spec's enum names, shared by every program.

Each enum is an IntEnum: the coordinator stores the int, the wire carries the member name (`"Ready"`), and
Redis carries the exec state's int. Client and agent code compare members, never spelled strings.
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar


class TaskState(enum.IntEnum):
    """TaskState: Pending waits for an upstream task; Finished and Cancelled await the agent's commit."""

    Pending = 0
    Ready = 1
    Running = 2
    Finished = 3
    Cancelled = 4
    Unknown = 5

    @classmethod
    def parse(cls, value: Any) -> TaskState:
        """The member of a wire name (case-insensitive); ValueError otherwise."""
        return _parse_name(cls, value)


class WorkerState(enum.IntEnum):
    Normal = 0
    GracefulShutdown = 1

    @classmethod
    def parse(cls, value: Any) -> WorkerState:
        return _parse_name(cls, value)


class UserState(enum.IntEnum):
    Active = 0
    Locked = 1
    Deleted = 2

    @classmethod
    def parse(cls, value: Any) -> UserState:
        return _parse_name(cls, value)


class GroupState(enum.IntEnum):
    Active = 0
    Locked = 1
    Deleted = 2

    @classmethod
    def parse(cls, value: Any) -> GroupState:
        return _parse_name(cls, value)


class ShutdownOp(enum.IntEnum):
    """WorkerShutdownOp: Graceful lets the current task finish, Force hands it back at once."""

    Graceful = 0
    Force = 1

    @classmethod
    def parse(cls, value: Any) -> ShutdownOp:
        return _parse_name(cls, value)


_E = TypeVar("_E", bound=enum.IntEnum)


def _parse_name(cls: type[_E], value: Any) -> _E:
    if isinstance(value, cls):
        return value
    if isinstance(value, str):
        for member in cls:
            if member.name.lower() == value.strip().lower():
                return member
    names = ", ".join(m.name for m in cls)
    raise ValueError(f"unknown {cls.__name__} {value!r} (expected one of {names})")


class ExecState(enum.IntEnum):
    """TaskExecState: the wire name is the member name, Redis carries the int value."""

    WorkerExited = -1
    FetchResource = 1
    FetchResourceFinished = 2
    FetchResourceError = 3
    FetchResourceTimeout = 4
    FetchResourceNotFound = 5
    FetchResourceForbidden = 6
    Watch = 7
    WatchFinished = 8
    WatchTimeout = 9
    ExecPending = 10
    ExecSpawned = 11
    ExecFinished = 12
    ExecTimeout = 13
    UploadResult = 14
    UploadFinishedResult = 15
    UploadCancelledResult = 16
    UploadResultFinished = 17
    UploadResultTimeout = 18
    TaskCommitted = 19
    Unknown = -99

    @classmethod
    def parse(cls, value: Any) -> ExecState:
        """Accept the wire name or the Redis int (bytes or str); anything else is Unknown."""
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        if isinstance(value, str):
            if value in cls.__members__:
                return cls[value]
            try:
                value = int(value)
            except ValueError:
                return cls.Unknown
        try:
            return cls(value)
        except ValueError:
            return cls.Unknown
