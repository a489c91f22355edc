"""The task exec states, shared by the coordinator and the agent (TaskExecState in the spec)."""

from __future__ import annotations

import enum
from typing import Any


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
