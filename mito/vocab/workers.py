"""Why a worker was removed, and the notices a coordinator sends an agent on its Redis channel.

The removal reason is stored with a removed worker (the coordinator answers its token's 401 with it) and
recorded with the task the worker lost. A notice is a small JSON object published on the agent's own
channel after the change it announces was committed: `{"cancel": task}` (a user cancelled the running
task: stop it and commit UserCancellation), `{"drop": task}` (the task is no longer this worker's: stop it,
commit nothing) or `{"removed": reason}` (the worker no longer exists).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any


class WorkerRemoval(enum.StrEnum):
    """Why a worker was removed; the value is the wording stored and sent."""

    HeartbeatTimeout = "heartbeat timeout"
    TaskOverrun = "task overrun"
    LifetimeExpired = "lifetime expired"
    ForceShutdown = "force shutdown"
    Shutdown = "shutdown"  # a graceful shutdown of a worker holding no task
    GracefulShutdown = "graceful shutdown"  # removed at the commit of its last task
    Unregistered = "unregistered"
    OwnerLocked = "owner locked"  # an admin locked the user who registered it
    OwnerDeleted = "owner deleted"  # an admin deleted the user who registered it

    @property
    def requested(self) -> bool:
        """Someone asked for this worker to go (an agent exits 0); otherwise the coordinator gave up on it."""
        return self in _REQUESTED

    @classmethod
    def parse(cls, value: Any) -> WorkerRemoval | None:
        """The member for a stored or sent value; None for anything else."""
        try:
            return cls(str(value))
        except ValueError:
            return None


_REQUESTED = frozenset(
    {
        WorkerRemoval.ForceShutdown,
        WorkerRemoval.Shutdown,
        WorkerRemoval.GracefulShutdown,
        WorkerRemoval.Unregistered,
        WorkerRemoval.OwnerLocked,
        WorkerRemoval.OwnerDeleted,
    }
)


class WorkerFeature(enum.StrEnum):
    """Protocol extensions a coordinator offers its agents (RegisterWorkerResp.features, issue #13)."""

    # POST /workers/tasks/batch: several report ops of the held task in one request, and the next task
    # claimed by the commit's answer.
    ReportBatch = "report_batch"


# The most report ops one batch may carry (a task's whole life is about a dozen).
MAX_BATCH_OPS = 64


def worker_channel(worker_uuid: object) -> str:
    """The Redis channel an agent listens on for its notices."""
    return f"worker:{worker_uuid}"


class NoticeKind(enum.StrEnum):
    """What a notice asks of the agent."""

    Cancel = "cancel"  # value: the task uuid
    Drop = "drop"  # value: the task uuid
    Removed = "removed"  # value: a WorkerRemoval


@dataclass(frozen=True)
class Notice:
    """One notice: its kind and its value (a task uuid, or a removal reason)."""

    kind: NoticeKind
    value: str

    def encode(self) -> str:
        """The message published on the channel."""
        return json.dumps({self.kind.value: self.value})

    @classmethod
    def decode(cls, message: bytes | str) -> Notice | None:
        """The notice a message carries; None for anything this program does not understand."""
        try:
            body = json.loads(message)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(body, dict) or len(body) != 1:
            return None
        ((key, value),) = body.items()
        try:
            return cls(NoticeKind(key), str(value))
        except ValueError:
            return None


# Tags an agent with slots gives its workers (worker_agent/slots.py): a task tagged EXCLUSIVE_TAG runs only
# while no other slot of its agent is busy; GPU_TAG marks the slots that were given devices (--gpus).
EXCLUSIVE_TAG = "exclusive"
GPU_TAG = "gpu"
