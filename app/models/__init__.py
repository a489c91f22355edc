"""SQLAlchemy models, one module per table or aggregate; re-exported here."""

from app.models.enums import (
    ATTACHMENT_CONTENT_TYPE,
    ArtifactContentType,
    GroupState,
    Role,
    TaskExecState,
    TaskState,
    UserState,
    WorkerState,
)
from app.models.group import Group, UserGroup
from app.models.storage import Artifact, Attachment, StorageDeletion
from app.models.task import ActiveTask, ArchivedTask, TaskBucket, TaskLoss, tags_key
from app.models.user import User
from app.models.worker import GroupWorker, Worker

__all__ = [
    "ATTACHMENT_CONTENT_TYPE",
    "ActiveTask",
    "ArchivedTask",
    "Artifact",
    "ArtifactContentType",
    "Attachment",
    "Group",
    "GroupState",
    "GroupWorker",
    "Role",
    "StorageDeletion",
    "TaskBucket",
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
