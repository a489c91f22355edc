"""Field types of a task spec: result messages, artifact content types, remote resources and watches.

Each validates one wire value and keeps its wire spelling; app/schemas/tasks.py composes them into the
spec's task components.
"""

from __future__ import annotations

import uuid as uuid_mod
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields, validates_schema

from app.models import ArtifactContentType, TaskExecState
from app.schemas._base import BodySchema

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


def _artifact_type(value: object) -> str:
    if not isinstance(value, str):
        raise ValidationError("Must be one of: result, exec-log, std-log.")
    try:
        return ArtifactContentType.parse(value).wire
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


class ArtifactContentTypeField(fields.Field[Any]):
    """ArtifactContentType by wire name (`result`, `exec-log`, `std-log`; upstream aliases accepted)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata=dict(ARTIFACT_CONTENT_TYPE_DOC), **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else ArtifactContentType(value).wire

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
        return ArtifactContentType.parse(_artifact_type(value))


class RemoteResourceField(fields.Field[Any]):
    """RemoteResource: `{"Artifact": {"uuid", "content_type"}}` or `{"Attachment": {"key"}}`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata=dict(REMOTE_RESOURCE_DOC), **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
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
    def _local_path(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "local_path" in data:
            try:
                _check_local_path(data["local_path"])
            except ValidationError as exc:
                raise ValidationError(exc.messages, "local_path") from exc


class WatchField(fields.Field[Any]):
    """TaskSpec.watch: `[task uuid, TaskExecState]` or null."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_none=True, metadata=dict(WATCH_DOC), **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        return value

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Any:
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
