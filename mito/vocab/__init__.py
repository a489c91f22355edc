"""The shared vocabulary: states, roles, artifact types and units that the coordinator (`app`), the agent
(`worker_agent`) and the client (`client`) all import. It imports nothing of theirs, nor anything beyond the
standard library, so every program can depend on it.
"""

from mito.vocab.artifacts import ATTACHMENT_CONTENT_TYPE, ArtifactContentType
from mito.vocab.campaigns import MAX_CAMPAIGN_TASKS, PointOutcome
from mito.vocab.output import OutputStream
from mito.vocab.results import TaskResultMessage
from mito.vocab.roles import Role
from mito.vocab.states import ExecState, GroupState, ShutdownOp, TaskState, UserState, WorkerState
from mito.vocab.units import format_duration, parse_duration, parse_size
from mito.vocab.workers import (
    EXCLUSIVE_TAG,
    GPU_TAG,
    MAX_BATCH_OPS,
    Notice,
    NoticeKind,
    WorkerFeature,
    WorkerRemoval,
    worker_channel,
)

__all__ = [
    "ATTACHMENT_CONTENT_TYPE",
    "ArtifactContentType",
    "EXCLUSIVE_TAG",
    "ExecState",
    "GPU_TAG",
    "GroupState",
    "MAX_BATCH_OPS",
    "MAX_CAMPAIGN_TASKS",
    "Notice",
    "NoticeKind",
    "OutputStream",
    "PointOutcome",
    "Role",
    "ShutdownOp",
    "TaskResultMessage",
    "TaskState",
    "UserState",
    "WorkerFeature",
    "WorkerRemoval",
    "WorkerState",
    "format_duration",
    "parse_duration",
    "parse_size",
    "worker_channel",
]
