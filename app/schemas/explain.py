"""Explain schemas (extension, tag Explain): why a task is not running."""

from __future__ import annotations

from marshmallow import fields

from app.models import TaskExecState, TaskState
from app.schemas._base import EnumName, RespSchema


class WorkerCountsResp(RespSchema):
    live = fields.Integer(required=True, metadata={"description": "Registered workers taking new tasks"})
    group = fields.Integer(
        required=True,
        metadata={"description": "Of those, the ones the task's group may use (Write or Admin)"},
    )
    tags = fields.Integer(required=True, metadata={"description": "Of those, the ones carrying all its tags"})
    idle = fields.Integer(required=True, metadata={"description": "Of those, the ones holding no task"})


class RelatedTaskResp(RespSchema):
    uuid = fields.UUID(required=True)
    state = EnumName(TaskState, allow_none=True, metadata={"description": "null: no such task"})
    exec_state = EnumName(TaskExecState, allow_none=True)


class TaskExplainResp(RespSchema):
    uuid = fields.UUID(required=True)
    state = EnumName(TaskState, required=True)
    verdict = fields.String(required=True, metadata={"description": "One line: why it is (not) running"})
    workers = fields.Nested(
        WorkerCountsResp, allow_none=True, metadata={"description": "For a Ready or Pending task"}
    )
    missing_tags = fields.List(
        fields.String(),
        metadata={"description": "What the closest workers of the group lack, when none fits"},
    )
    ahead = fields.Integer(metadata={"description": "Ready tasks of its queue claimed before it"})
    ahead_capped = fields.Boolean(metadata={"description": "`ahead` stopped counting at its cap (1000)"})
    upstream = fields.Nested(RelatedTaskResp, allow_none=True, metadata={"description": "A Pending task's"})
    watch = fields.Nested(RelatedTaskResp, allow_none=True, metadata={"description": "The task it watches"})
    watch_exec_state = EnumName(TaskExecState, allow_none=True, metadata={"description": "What it waits for"})
    worker = fields.UUID(allow_none=True, metadata={"description": "The worker holding it, once claimed"})
    retry_at = fields.DateTime(
        allow_none=True, metadata={"description": "A task waiting out its retry delay: when it becomes Ready"}
    )
