"""Workers schemas: registration, management, heartbeat, fetch and report (the spec's components)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.models import Role, ShutdownOp, TaskExecState, TaskState, WorkerState
from app.schemas._base import (
    BodySchema,
    Duration,
    EnumName,
    FilterList,
    QuerySchema,
    RespSchema,
    StrictInteger,
)
from app.schemas.task_fields import ArtifactContentTypeField
from app.schemas.tasks import SubmitTaskReq, TaskResultSpec, TaskSpecResp
from app.services.agent_protocol import Cancel, Commit, ExecState, Finish, ReportOp, Submit, Upload
from mito.vocab import MAX_BATCH_OPS


def _non_empty(data: dict[str, Any], *names: str) -> None:
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
    features = fields.List(fields.String())  # extension (issue #13): WorkerFeature values


class WorkerFilter(BodySchema):
    group_name = fields.String(allow_none=True)
    role = FilterList(EnumName(Role))
    tags = FilterList(fields.String())
    labels = FilterList(fields.String())
    creator_username = fields.String(allow_none=True)

    @validates_schema
    def _lists(self, data: dict[str, Any], **kwargs: Any) -> None:
        _non_empty(data, "role", "tags", "labels")


class WorkersQueryReq(WorkerFilter):
    count = fields.Boolean(load_default=False)


class WorkerQueryInfo(RespSchema):
    worker_id = fields.UUID(required=True, attribute="uuid")
    creator_username = fields.String(required=True)
    tags = fields.List(fields.String(), required=True)
    labels = fields.List(fields.String(), required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    state = EnumName(WorkerState, required=True)
    last_heartbeat = fields.DateTime(required=True)
    # The uuid of the task it holds, despite the name (the spec's).
    assigned_task_id = fields.UUID(allow_none=True, attribute="assigned_task_uuid")


class WorkerQueryResp(RespSchema):
    info = fields.Nested(WorkerQueryInfo, required=True)
    groups = fields.Dict(keys=fields.String(), values=EnumName(Role), required=True)


class WorkerListed(WorkerQueryInfo):
    """A worker of WorkersQueryResp: WorkerQueryInfo of its `info`, plus its `groups` (an extension)."""

    groups = fields.Dict(keys=fields.String(), values=EnumName(Role))

    def get_attribute(self, obj: Any, attr: str, default: Any) -> Any:
        return obj.groups if attr == "groups" else super().get_attribute(obj.info, attr, default)


class WorkersQueryResp(RespSchema):
    count = fields.Integer(required=True)
    workers = fields.List(fields.Nested(WorkerListed), required=True)
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
    op = EnumName(
        ShutdownOp,
        load_default=ShutdownOp.Graceful,
        metadata={"enum": ["graceful", "force"], "default": "graceful"},
    )


class WorkersShutdownByFilterReq(WorkerFilter):
    op = EnumName(ShutdownOp, required=True)


class WorkersShutdownByFilterResp(RespSchema):
    shutdown_count = fields.Integer(required=True)
    group_name = fields.String(required=True)


class WorkersShutdownByUuidsReq(BodySchema):
    uuids = fields.List(fields.UUID(), required=True)
    op = EnumName(ShutdownOp, required=True)

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **kwargs: Any) -> None:
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
    tags = fields.List(fields.String())  # extension: the agent gives a task tagged `exclusive` the host
    # extension: the attempt this claim started (a batch names it, so a late one never lands on a later one)
    attempt = fields.Integer()


class WorkerTaskStateResp(WorkerTaskResp):
    """getTaskForWorker: WorkerTaskResp plus the task's state and last reported exec state."""

    state = EnumName(TaskState, required=True)
    exec_state = EnumName(TaskExecState, allow_none=True)


class _UploadOp(BodySchema):
    content_type = ArtifactContentTypeField(required=True)
    content_length = StrictInteger(required=True, metadata={"minimum": 0})

    @validates_schema
    def _length(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("content_length", 0) < 0:
            raise ValidationError("Must be non-negative.", "content_length")


def _commit(body: dict[str, Any]) -> ReportOp:
    return Commit(exit_status=body["exit_status"], msg=body["msg"], detail=body.get("detail"))


def _upload(body: dict[str, Any]) -> ReportOp:
    return Upload(content_type=body["content_type"], content_length=body["content_length"])


def _submit(body: dict[str, Any]) -> ReportOp:
    return Submit(task=body)


@functools.cache
def _op_schema(schema: type[Schema]) -> Schema:
    """One instance per op body schema, made at its first use (a load keeps no state in its schema): not
    one per op of every report, the agent's hottest request."""
    return schema()


class ReportTaskOpField(fields.Field[Any]):
    """ReportTaskOp, loaded as the agent protocol's typed op.

    "Finish" | "Cancel" | {"Commit": TaskResultSpec} | {"Upload": {...}} | {"Submit": SubmitTaskReq} |
    {"ExecState": TaskExecState}.
    """

    NAMED_OPS: dict[str, ReportOp] = {"Finish": Finish(), "Cancel": Cancel()}
    OBJECT_OPS: dict[str, tuple[type[Schema], Callable[[dict[str, Any]], ReportOp]]] = {
        "Commit": (TaskResultSpec, _commit),
        "Upload": (_UploadOp, _upload),
        "Submit": (SubmitTaskReq, _submit),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            metadata={"oneOf": [{"type": "string", "enum": list(self.NAMED_OPS)}, {"type": "object"}]},
            **kwargs,
        )

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> ReportOp:
        if isinstance(value, str) and value in self.NAMED_OPS:
            return self.NAMED_OPS[value]
        if not isinstance(value, dict) or len(value) != 1:
            raise ValidationError("Expected Finish, Cancel, or one of {Commit|Upload|Submit|ExecState: ...}.")
        ((kind, body),) = value.items()
        if kind == "ExecState":
            names = [m.name for m in TaskExecState]
            if body not in names:
                raise ValidationError(f"ExecState must be one of: {', '.join(names)}.")
            return ExecState(exec_state=TaskExecState.__members__[body])
        if kind not in self.OBJECT_OPS:
            raise ValidationError(f"Unknown report op {kind!r}.")
        if not isinstance(body, dict):
            raise ValidationError(f"{kind} must be an object.")
        schema, build = self.OBJECT_OPS[kind]
        return build(_op_schema(schema).load(body))


class ReportTaskReq(BodySchema):
    id = StrictInteger(required=True)
    op = ReportTaskOpField(required=True)


class ReportTaskResp(RespSchema):
    url = fields.String(allow_none=True)


class ReportTaskBatchReq(BodySchema):
    """Extension (issue #13): report ops of one held task, applied in order in one transaction."""

    id = StrictInteger(required=True)
    ops = fields.List(ReportTaskOpField(), required=True, validate=validate.Length(min=1, max=MAX_BATCH_OPS))
    next = fields.Boolean(load_default=False, metadata={"description": "after a Commit, claim the next task"})
    attempt = StrictInteger(
        validate=validate.Range(min=1),
        metadata={
            "description": "the claim answer's attempt: the batch applies only while that attempt holds"
        },
    )


class ReportTaskBatchResp(RespSchema):
    urls = fields.List(fields.String(), required=True)
    next = fields.Nested(WorkerTaskResp, allow_none=True)
