"""Tasks schemas: the spec's task components, field for field.

Task specs are validated here and stored in their wire form (JSON), so `TaskQueryInfo.spec` returns what
was submitted, normalised (artifact content types in wire spelling, watch states by name).
"""

from __future__ import annotations

import uuid as uuid_mod

from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from app.models import ArtifactContentType, TaskExecState, TaskState
from app.schemas._base import BodySchema, Duration, EnumName, RespSchema, StrictInteger

RESULT_MESSAGES = [
    "FetchResourceTimeout",
    "ExecTimeout",
    "UploadResultTimeout",
    "ResourceNotFound",
    "ResourceForbidden",
    "WatchTimeout",
    "UserCancellation",
    "SubmitNewTaskFailed",
]


# JSON schemas of the spec's union shapes, documented on the fields that parse them by hand.
ARTIFACT_CONTENT_TYPE_DOC = {"type": "string", "enum": ["result", "exec-log", "std-log"]}
REMOTE_RESOURCE_DOC = {
    "oneOf": [
        {
            "type": "object",
            "required": ["Artifact"],
            "properties": {
                "Artifact": {
                    "type": "object",
                    "required": ["uuid", "content_type"],
                    "properties": {
                        "uuid": {"type": "string", "format": "uuid"},
                        "content_type": ARTIFACT_CONTENT_TYPE_DOC,
                    },
                }
            },
        },
        {
            "type": "object",
            "required": ["Attachment"],
            "properties": {
                "Attachment": {
                    "type": "object",
                    "required": ["key"],
                    "properties": {"key": {"type": "string"}},
                }
            },
        },
    ]
}
WATCH_DOC = {
    "type": "array",
    "nullable": True,
    "minItems": 2,
    "maxItems": 2,
    "items": {
        "oneOf": [
            {"type": "string", "format": "uuid"},
            {"type": "string", "enum": [m.name for m in TaskExecState]},
        ]
    },
}


def _artifact_type(value) -> str:
    if not isinstance(value, str):
        raise ValidationError("Must be one of: result, exec-log, std-log.")
    try:
        return ArtifactContentType.parse(value).wire
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


class ArtifactContentTypeField(fields.Field):
    """ArtifactContentType by wire name (`result`, `exec-log`, `std-log`; upstream aliases accepted)."""

    def __init__(self, **kwargs):
        super().__init__(metadata=dict(ARTIFACT_CONTENT_TYPE_DOC), **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else ArtifactContentType(value).wire

    def _deserialize(self, value, attr, data, **kwargs):
        return ArtifactContentType.parse(_artifact_type(value))


class RemoteResourceField(fields.Field):
    """RemoteResource: `{"Artifact": {"uuid", "content_type"}}` or `{"Attachment": {"key"}}`."""

    def __init__(self, **kwargs):
        super().__init__(metadata=dict(REMOTE_RESOURCE_DOC), **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return value

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, dict) or len(value) != 1:
            raise ValidationError("Expected {'Artifact': {...}} or {'Attachment': {...}}.")
        ((kind, body),) = value.items()
        if not isinstance(body, dict):
            raise ValidationError(f"{kind} must be an object.")
        if kind == "Artifact":
            if set(body) != {"uuid", "content_type"}:
                raise ValidationError("Artifact needs exactly uuid and content_type.")
            try:
                task_uuid = str(uuid_mod.UUID(str(body["uuid"])))
            except ValueError as exc:
                raise ValidationError("Artifact uuid is not a valid UUID.") from exc
            return {"Artifact": {"uuid": task_uuid, "content_type": _artifact_type(body["content_type"])}}
        if kind == "Attachment":
            if set(body) != {"key"} or not isinstance(body["key"], str) or not body["key"]:
                raise ValidationError("Attachment needs exactly a non-empty string key.")
            return {"Attachment": {"key": body["key"]}}
        raise ValidationError("Expected {'Artifact': {...}} or {'Attachment': {...}}.")


def _check_local_path(path: str) -> None:
    parts = path.replace("\\", "/").split("/")
    if not path or path.startswith(("/", "\\")) or ".." in parts or (len(path) > 1 and path[1] == ":"):
        raise ValidationError("Resource local path is absolute or contains '..'.")


class RemoteResourceDownload(BodySchema):
    remote_file = RemoteResourceField(required=True)
    local_path = fields.String(required=True)

    @validates_schema
    def _local_path(self, data, **kwargs):
        if "local_path" in data:
            try:
                _check_local_path(data["local_path"])
            except ValidationError as exc:
                raise ValidationError(exc.messages, "local_path") from exc


class WatchField(fields.Field):
    """TaskSpec.watch: `[task uuid, TaskExecState]` or null."""

    def __init__(self, **kwargs):
        super().__init__(allow_none=True, metadata=dict(WATCH_DOC), **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        return value

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list) or len(value) != 2:
            raise ValidationError("Expected [task uuid, TaskExecState].")
        try:
            watched = str(uuid_mod.UUID(str(value[0])))
        except ValueError as exc:
            raise ValidationError("watch[0] is not a valid UUID.") from exc
        names = {m.name: m.name for m in TaskExecState}
        if not isinstance(value[1], str) or value[1] not in names:
            raise ValidationError(f"watch[1] must be a TaskExecState: {', '.join(names)}.")
        return [watched, value[1]]


class TaskSpec(BodySchema):
    args = fields.List(fields.String(), required=True)
    envs = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    resources = fields.List(fields.Nested(RemoteResourceDownload), load_default=list)
    terminal_output = fields.Boolean(load_default=False)
    watch = WatchField(load_default=None)

    @validates_schema
    def _args(self, data, **kwargs):
        if "args" in data and not data["args"]:
            raise ValidationError("args must name a command.", "args")


class RemoteResourceDownloadResp(RespSchema):
    remote_file = fields.Raw(required=True, metadata=dict(REMOTE_RESOURCE_DOC))
    local_path = fields.String(required=True)


class TaskSpecResp(RespSchema):
    """TaskSpec on the way out (as stored)."""

    args = fields.List(fields.String(), required=True)
    envs = fields.Dict(keys=fields.String(), values=fields.String())
    resources = fields.List(fields.Nested(RemoteResourceDownloadResp))
    terminal_output = fields.Boolean()
    watch = fields.Raw(allow_none=True, metadata=dict(WATCH_DOC))


class SubmitTaskReq(BodySchema):
    group_name = fields.String(required=True)
    tags = fields.List(fields.String(), load_default=list)
    labels = fields.List(fields.String(), load_default=list)
    timeout = Duration(load_default=600)
    priority = StrictInteger(bits=32, load_default=0)
    task_spec = fields.Nested(TaskSpec, required=True)


class SubmitTaskResp(RespSchema):
    task_id = fields.Integer(required=True)
    uuid = fields.UUID(required=True)


class TasksSubmitReq(BodySchema):
    # Items are validated one by one (see load_each) so that one bad item gives one Err, not a 400.
    tasks = fields.List(fields.Raw(), required=True)

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if "tasks" in data and not data["tasks"]:
            raise ValidationError("tasks cannot be empty.", "tasks")


def load_each(items: list) -> list[dict | str]:
    """Validate each batch item on its own: the loaded SubmitTaskReq, or an error message."""
    schema = SubmitTaskReq()
    out: list[dict | str] = []
    for item in items:
        try:
            out.append(schema.load(item))
        except ValidationError as exc:
            out.append(f"Invalid request: {exc.messages}")
    return out


TASK_SUBMIT_RESULT_DOC = {
    "oneOf": [
        {
            "type": "object",
            "required": ["Ok"],
            "properties": {"Ok": {"$ref": "#/components/schemas/SubmitTaskResp"}},
        },
        {
            "type": "object",
            "required": ["Err"],
            "properties": {
                "Err": {"type": "object", "required": ["msg"], "properties": {"msg": {"type": "string"}}}
            },
        },
    ]
}


class TasksSubmitResp(RespSchema):
    # Each item is {"Ok": {task_id, uuid}} or {"Err": {msg}} (TaskSubmitResult), in request order.
    results = fields.List(fields.Raw(metadata=dict(TASK_SUBMIT_RESULT_DOC)), required=True)


class ChangeTaskReq(BodySchema):
    tags = fields.List(fields.String(), allow_none=True)
    timeout = Duration(allow_none=True)
    priority = StrictInteger(bits=32, allow_none=True)
    task_spec = fields.Nested(TaskSpec, allow_none=True)

    @post_load
    def _drop_nulls(self, data, **kwargs):
        return {k: v for k, v in data.items() if v is not None}


class UpdateTaskLabelsReq(BodySchema):
    labels = fields.List(fields.String(), required=True)


class TaskFilter(BodySchema):
    """The filter fields shared by TasksQueryReq and TasksCancelByFilterReq."""

    creator_usernames = fields.List(fields.String(), allow_none=True)
    group_name = fields.String(allow_none=True)
    tags = fields.List(fields.String(), allow_none=True)
    labels = fields.List(fields.String(), allow_none=True)
    states = fields.List(EnumName(TaskState), allow_none=True)
    exit_status = fields.String(allow_none=True)
    priority = fields.String(allow_none=True)

    @validates_schema
    def _non_empty_lists(self, data, **kwargs):
        for name in ("creator_usernames", "tags", "labels", "states"):
            if data.get(name) is not None and not data[name]:
                raise ValidationError(f"{name} cannot be empty if specified.", name)


class TasksQueryReq(TaskFilter):
    reporter_uuid = fields.UUID(allow_none=True)
    limit = StrictInteger(allow_none=True, metadata={"minimum": 0})
    offset = StrictInteger(allow_none=True, metadata={"minimum": 0})
    count = fields.Boolean(load_default=False)

    @validates_schema
    def _bounds(self, data, **kwargs):
        for name in ("limit", "offset"):
            if data.get(name) is not None and not 0 <= data[name] <= 2**63 - 1:
                raise ValidationError("Must be a non-negative integer.", name)


class TaskQueryInfo(RespSchema):
    uuid = fields.UUID(required=True)
    reporter_uuid = fields.UUID(allow_none=True)
    creator_username = fields.String(required=True)
    group_name = fields.String(required=True)
    task_id = fields.Integer(required=True)
    tags = fields.List(fields.String(), required=True)
    labels = fields.List(fields.String(), required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    state = EnumName(TaskState, required=True)
    timeout = fields.Integer(required=True)
    priority = fields.Integer(required=True)
    spec = fields.Dict(required=True)
    result = fields.Dict(allow_none=True)
    upstream_task_uuid = fields.UUID(allow_none=True)
    downstream_task_uuid = fields.UUID(allow_none=True)


class TasksQueryResp(RespSchema):
    count = fields.Integer(required=True)
    tasks = fields.List(fields.Nested(TaskQueryInfo), required=True)
    group_name = fields.String(required=True)


class TaskResultSpec(BodySchema):
    exit_status = StrictInteger(bits=32, required=True)
    msg = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(RESULT_MESSAGES))


class TaskResultSpecResp(RespSchema):
    exit_status = fields.Integer(required=True)
    msg = fields.String(allow_none=True, metadata={"enum": RESULT_MESSAGES})


class ParsedTaskQueryInfo(TaskQueryInfo):
    spec = fields.Nested(TaskSpecResp, required=True)
    result = fields.Nested(TaskResultSpecResp, allow_none=True)


class ArtifactQueryResp(RespSchema):
    content_type = ArtifactContentTypeField(required=True)
    size = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class TaskQueryResp(RespSchema):
    info = fields.Nested(ParsedTaskQueryInfo, required=True)
    artifacts = fields.List(fields.Nested(ArtifactQueryResp), required=True)


class TasksCancelByFilterReq(TaskFilter):
    pass


class TasksCancelByFilterResp(RespSchema):
    cancelled_count = fields.Integer(required=True)
    group_name = fields.String(required=True)


class TasksCancelByUuidsReq(BodySchema):
    uuids = fields.List(fields.UUID(), required=True)

    @validates_schema
    def _not_empty(self, data, **kwargs):
        if "uuids" in data and not data["uuids"]:
            raise ValidationError("uuids cannot be empty.", "uuids")


class TasksCancelByUuidsResp(RespSchema):
    cancelled_count = fields.Integer(required=True)
    failed_uuids = fields.List(fields.UUID(), required=True)
