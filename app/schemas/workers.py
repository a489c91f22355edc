"""Workers schemas: registration, management, heartbeat, fetch and report (the spec's components)."""

from __future__ import annotations

import enum

from marshmallow import ValidationError, fields, validates_schema

from app.models import Role, TaskExecState, TaskState, WorkerState
from app.schemas._base import BodySchema, Duration, EnumName, QuerySchema, RespSchema, StrictInteger
from app.schemas.tasks import ArtifactContentTypeField, SubmitTaskReq, TaskResultSpec, TaskSpecResp


class ShutdownOp(enum.IntEnum):
    """WorkerShutdownOp (query strings use the lower-case spelling; both are accepted)."""

    Graceful = 0
    Force = 1


def _non_empty(data: dict, *names: str) -> None:
    for name in names:
        if data.get(name) is not None and not data[name]:
            raise ValidationError(f"{name} cannot be empty if specified.", name)


class RegisterWorkerReq(BodySchema):
    tags = fields.List(fields.String(), required=True)
    groups = fields.List(fields.String(), required=True)
    lifetime = Duration(allow_none=True, load_default=None)
    labels = fields.List(fields.String(), load_default=list)


class RegisterWorkerResp(RespSchema):
    worker_id = fields.UUID(required=True)
    token = fields.String(required=True)
    redis_url = fields.String(allow_none=True)


class WorkerFilter(BodySchema):
    group_name = fields.String(allow_none=True)
    role = fields.List(EnumName(Role), allow_none=True)
    tags = fields.List(fields.String(), allow_none=True)
    labels = fields.List(fields.String(), allow_none=True)
    creator_username = fields.String(allow_none=True)

    @validates_schema
    def _lists(self, data, **kwargs):
        _non_empty(data, "role", "tags", "labels")


class WorkersQueryReq(WorkerFilter):
    count = fields.Boolean(load_default=False)


class WorkerQueryInfo(RespSchema):
    worker_id = fields.UUID(required=True)
    creator_username = fields.String(required=True)
    tags = fields.List(fields.String(), required=True)
    labels = fields.List(fields.String(), required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    state = EnumName(WorkerState, required=True)
    last_heartbeat = fields.DateTime(required=True)
    assigned_task_id = fields.UUID(allow_none=True)


class WorkerQueryResp(RespSchema):
    info = fields.Nested(WorkerQueryInfo, required=True)
    groups = fields.Dict(keys=fields.String(), values=EnumName(Role), required=True)


class WorkersQueryResp(RespSchema):
    count = fields.Integer(required=True)
    workers = fields.List(fields.Nested(WorkerQueryInfo), required=True)
    group_name = fields.String(required=True)


class ReplaceWorkerTagsReq(BodySchema):
    tags = fields.List(fields.String(), required=True)


class ReplaceWorkerLabelsReq(BodySchema):
    labels = fields.List(fields.String(), required=True)


class UpdateGroupWorkerRoleReq(BodySchema):
    relations = fields.Dict(keys=fields.String(), values=EnumName(Role), required=True)


class RemoveGroupWorkerRoleParams(QuerySchema):
    """`groups=a,b` or `groups=a&groups=b` (both accepted)."""

    groups = fields.List(fields.String(), load_default=list)


class ShutdownOpArgs(QuerySchema):
    # The spec documents the lower-case spelling; any case is accepted.
    op = EnumName(ShutdownOp, load_default=ShutdownOp.Graceful, metadata={"enum": ["graceful", "force"]})


class WorkersShutdownByFilterReq(WorkerFilter):
    op = EnumName(ShutdownOp, required=True)


class WorkersShutdownByFilterResp(RespSchema):
    shutdown_count = fields.Integer(required=True)
    group_name = fields.String(required=True)


class WorkersShutdownByUuidsReq(BodySchema):
    uuids = fields.List(fields.UUID(), required=True)
    op = EnumName(ShutdownOp, required=True)

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if "uuids" in data and not data["uuids"]:
            raise ValidationError("uuids cannot be empty.", "uuids")


class WorkersShutdownByUuidsResp(RespSchema):
    shutdown_count = fields.Integer(required=True)
    failed_uuids = fields.List(fields.UUID(), required=True)


class HeartbeatResp(RespSchema):
    """Extension of the spec's bare 200: Running tasks whose cancellation a user asked for."""

    cancel = fields.List(fields.UUID(), required=True)


class WorkerTaskResp(RespSchema):
    id = fields.Integer(required=True)
    uuid = fields.UUID(required=True)
    timeout = Duration(required=True)
    upstream_task_uuid = fields.UUID(allow_none=True)
    spec = fields.Nested(TaskSpecResp, required=True)


class WorkerTaskStateResp(WorkerTaskResp):
    """getTaskForWorker: WorkerTaskResp plus the task's state and last reported exec state."""

    state = EnumName(TaskState, required=True)
    exec_state = EnumName(TaskExecState, allow_none=True)


class _UploadOp(BodySchema):
    content_type = ArtifactContentTypeField(required=True)
    content_length = StrictInteger(required=True, metadata={"minimum": 0})

    @validates_schema
    def _length(self, data, **kwargs):
        if data.get("content_length", 0) < 0:
            raise ValidationError("Must be non-negative.", "content_length")


class ReportTaskOpField(fields.Field):
    """ReportTaskOp, loaded as (kind, payload).

    "Finish" | "Cancel" | {"Commit": TaskResultSpec} | {"Upload": {...}} | {"Submit": SubmitTaskReq} |
    {"ExecState": TaskExecState}.
    """

    OBJECT_OPS = {"Commit": TaskResultSpec, "Upload": _UploadOp, "Submit": SubmitTaskReq}

    def __init__(self, **kwargs):
        super().__init__(
            metadata={"oneOf": [{"type": "string", "enum": ["Finish", "Cancel"]}, {"type": "object"}]},
            **kwargs,
        )

    def _deserialize(self, value, attr, data, **kwargs):
        if value in ("Finish", "Cancel"):
            return value, None
        if not isinstance(value, dict) or len(value) != 1:
            raise ValidationError("Expected Finish, Cancel, or one of {Commit|Upload|Submit|ExecState: ...}.")
        ((kind, body),) = value.items()
        if kind == "ExecState":
            names = [m.name for m in TaskExecState]
            if body not in names:
                raise ValidationError(f"ExecState must be one of: {', '.join(names)}.")
            return kind, TaskExecState[body]
        schema = self.OBJECT_OPS.get(kind)
        if schema is None:
            raise ValidationError(f"Unknown report op {kind!r}.")
        if not isinstance(body, dict):
            raise ValidationError(f"{kind} must be an object.")
        return kind, schema().load(body)


class ReportTaskReq(BodySchema):
    id = StrictInteger(required=True)
    op = ReportTaskOpField(required=True)


class ReportTaskResp(RespSchema):
    url = fields.String(allow_none=True)
