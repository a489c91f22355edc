"""SQLAlchemy models, one module per table or aggregate; re-exported here."""

from app.models.attempt import TaskAttempt
from app.models.campaign import Campaign
from app.models.enums import (
    ATTACHMENT_CONTENT_TYPE,
    ArtifactContentType,
    GroupState,
    Role,
    ShutdownOp,
    TaskExecState,
    TaskState,
    UserState,
    WorkerState,
)
from app.models.group import Group, UserGroup
from app.models.liveness import CoordinatorLiveness
from app.models.metric import SHARDS, MetricCounter, TaskCount
from app.models.output import OutputChunk
from app.models.storage import Artifact, Attachment, StorageDeletion
from app.models.task import ActiveTask, ArchivedTask, TaskBucket, TaskLoss, tags_key
from app.models.user import User
from app.models.worker import GroupWorker, RemovedWorker, Worker

__all__ = [
    "ATTACHMENT_CONTENT_TYPE",
    "ActiveTask",
    "ArchivedTask",
    "Artifact",
    "ArtifactContentType",
    "Attachment",
    "Campaign",
    "CoordinatorLiveness",
    "Group",
    "MetricCounter",
    "OutputChunk",
    "SHARDS",
    "GroupState",
    "GroupWorker",
    "RemovedWorker",
    "Role",
    "ShutdownOp",
    "StorageDeletion",
    "TaskAttempt",
    "TaskBucket",
    "TaskCount",
    "TaskExecState",
    "TaskLoss",
    "TaskState",
    "User",
    "UserGroup",
    "UserState",
    "Worker",
    "WorkerState",
    "tags_key",
]
