"""Tasks schemas: the spec's task components, field for field.

Task specs are validated here and stored in their wire form (JSON), so `TaskQueryInfo.spec` returns what
was submitted, normalised (artifact content types in wire spelling, watch states by name).
"""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, post_dump, post_load, validate, validates_schema

from app.models import TaskState
from app.schemas._base import BodySchema, Duration, EnumName, FilterList, RespSchema, StrictInteger
from app.schemas.task_fields import (
    REMOTE_RESOURCE_DOC,
    RESULT_MESSAGES,
    WATCH_DOC,
    ArtifactContentTypeField,
    RemoteResourceDownload,
    WatchField,
)
from mito.vocab.queries import QUERY_LIMIT_MAX
from mito.vocab.retries import (
    DEFAULT_RETRY_ON,
    MAX_RETRIES,
    MAX_RETRY_DELAY,
    AttemptEnd,
    Backoff,
    parse_retry_on,
)


class TaskSpec(BodySchema):
    args = fields.List(fields.String(), required=True)
    envs = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    resources = fields.List(fields.Nested(RemoteResourceDownload), load_default=list)
    terminal_output = fields.Boolean(load_default=False)
    watch = WatchField(load_default=None)

    @validates_schema
    def _args(self, data: dict[str, Any], **kwargs: Any) -> None:
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


RETRY_DOC = (
    "Extension: the task's retry policy. `retries`: further attempts allowed (0-100); `on`: the failures "
    "retried, `exit` or `exit:1,2`, `signal` or `signal:9`, `timeout`, `lost` (default: all four); `delay`: "
    "wait before the next attempt (humantime, at most 1 day); `backoff`: fixed or exponential (doubles it)"
)


class RetryPolicy(BodySchema):
    """Extension (issue #14): how often and on which failures a task gets another attempt."""

    retries = StrictInteger(required=True, validate=validate.Range(0, MAX_RETRIES))
    on = fields.List(fields.String(), load_default=lambda: list(DEFAULT_RETRY_ON))
    delay = Duration(load_default=0, validate=validate.Range(0, MAX_RETRY_DELAY))
    backoff = fields.String(
        load_default=Backoff.fixed.value, validate=validate.OneOf([b.value for b in Backoff])
    )

    @validates_schema
    def _on(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "on" in data:
            if not data["on"]:
                raise ValidationError("on cannot be empty: leave it out to retry every failure.", "on")
            try:
                parse_retry_on(data["on"])
            except ValueError as exc:
                raise ValidationError(str(exc), "on") from exc

    @post_load
    def _canonical(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {**data, "on": parse_retry_on(data["on"])}


class RetryPolicyResp(RespSchema):
    retries = fields.Integer(required=True)
    on = fields.List(fields.String(), required=True)
    delay = Duration(required=True)
    backoff = fields.String(required=True)


class SubmitTaskReq(BodySchema):
    group_name = fields.String(required=True)
    tags = fields.List(fields.String(), load_default=list)
    labels = fields.List(fields.String(), load_default=list)
    timeout = Duration(load_default=600)
    priority = StrictInteger(bits=32, load_default=0)
    task_spec = fields.Nested(TaskSpec, required=True)
    retry = fields.Nested(RetryPolicy, allow_none=True, metadata={"description": RETRY_DOC})


class SubmitTaskResp(RespSchema):
    task_id = fields.Integer(required=True)
    uuid = fields.UUID(required=True)


class TasksSubmitReq(BodySchema):
    # Items are validated one by one (see load_each) so that one bad item gives one Err, not a 400.
    tasks = fields.List(fields.Raw(), required=True)

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "tasks" in data and not data["tasks"]:
            raise ValidationError("tasks cannot be empty.", "tasks")


def load_each(items: list[Any]) -> list[dict[str, Any] | str]:
    """Validate each batch item on its own: the loaded SubmitTaskReq, or an error message."""
    schema = SubmitTaskReq()
    out: list[dict[str, Any] | str] = []
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


class TaskSubmitResultField(fields.Field[Any]):
    """TaskSubmitResult: a new task as `{"Ok": {task_id, uuid}}`, a refusal message as `{"Err": {msg}}`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata=dict(TASK_SUBMIT_RESULT_DOC), **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            return {"Err": {"msg": value}}
        return {"Ok": _SUBMITTED.dump(value)}


_SUBMITTED = SubmitTaskResp()  # built once: a batch's answer dumps one per task (marshmallow keeps no state)


class TasksSubmitResp(RespSchema):
    # One result per submitted item, in request order.
    results = fields.List(TaskSubmitResultField(), required=True)


class ChangeTaskReq(BodySchema):
    tags = fields.List(fields.String(), allow_none=True)
    timeout = Duration(allow_none=True)
    priority = StrictInteger(bits=32, allow_none=True)
    task_spec = fields.Nested(TaskSpec, allow_none=True)

    @post_load
    def _drop_nulls(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return {k: v for k, v in data.items() if v is not None}


class UpdateTaskLabelsReq(BodySchema):
    labels = fields.List(fields.String(), required=True)


class TaskFilter(BodySchema):
    """The filter fields shared by TasksQueryReq and TasksCancelByFilterReq."""

    creator_usernames = FilterList(fields.String())
    group_name = fields.String(allow_none=True)
    tags = FilterList(fields.String())
    labels = FilterList(fields.String())
    states = FilterList(EnumName(TaskState))
    exit_status = fields.String(allow_none=True)
    priority = fields.String(allow_none=True)

    @validates_schema
    def _non_empty_lists(self, data: dict[str, Any], **kwargs: Any) -> None:
        for name in ("creator_usernames", "tags", "labels", "states"):
            if data.get(name) is not None and not data[name]:
                raise ValidationError(f"{name} cannot be empty if specified.", name)


class TasksQueryReq(TaskFilter):
    reporter_uuid = fields.UUID(allow_none=True)
    limit = StrictInteger(
        allow_none=True,
        metadata={
            "minimum": 0,
            "maximum": QUERY_LIMIT_MAX,
            "description": f"At most {QUERY_LIMIT_MAX} (extension: the default, not unlimited)",
        },
    )
    offset = StrictInteger(allow_none=True, metadata={"minimum": 0})
    count = fields.Boolean(load_default=False)
    cursor = fields.String(
        allow_none=True,
        validate=validate.Length(max=256),
        metadata={"description": "Extension: the next_cursor of the previous page (keyset pagination)"},
    )

    @validates_schema
    def _bounds(self, data: dict[str, Any], **kwargs: Any) -> None:
        for name in ("limit", "offset"):
            if data.get(name) is not None and not 0 <= data[name] <= 2**63 - 1:
                raise ValidationError("Must be a non-negative integer.", name)
        if data.get("limit") is not None and data["limit"] > QUERY_LIMIT_MAX:
            raise ValidationError(
                f"At most {QUERY_LIMIT_MAX} tasks per page: page on with next_cursor.", "limit"
            )


class TaskCampaignPoint(RespSchema):
    """Extension (campaigns): the campaign a task belongs to, its parameters and its repetition."""

    name = fields.String(required=True)
    params = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    repeat = fields.Integer(required=True)


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
    spec: fields.Field[Any] = fields.Dict(required=True)
    result: fields.Field[Any] = fields.Dict(allow_none=True)
    upstream_task_uuid = fields.UUID(allow_none=True)
    downstream_task_uuid = fields.UUID(allow_none=True)
    campaign = fields.Nested(
        TaskCampaignPoint,
        attribute="campaign_point",
        metadata={"description": "Extension: the task's campaign and parameters (absent outside campaigns)"},
    )
    retry = fields.Nested(
        RetryPolicyResp,
        attribute="retry_policy",
        metadata={"description": "Extension: the task's retry policy (absent without one)"},
    )
    retry_count = fields.Integer(
        metadata={"description": "Extension: retries used since submission or the last re-run (policy only)"}
    )

    @post_dump
    def _drop_no_campaign(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # Tasks of no campaign and no retry policy keep the spec's exact shape.
        if data.get("campaign") is None:
            data.pop("campaign", None)
        if data.get("retry") is None:
            data.pop("retry", None)
            data.pop("retry_count", None)
        return data


def _uuid_text(value: Any) -> str | None:
    return None if value is None else str(value)


class TaskPageList(fields.List[Any]):
    """TasksQueryResp.tasks: a task of no campaign and no retry policy (most) is dumped in one dict
    expression, as TaskQueryInfo dumps it (tests/app/api/test_tasks_query.py compares the two); the
    others go through the schema."""

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> list[Any] | None:
        if value is None:
            return None
        schema = self.inner.schema  # type: ignore[attr-defined]
        return [
            _plain_task(t) if t.campaign_point is None and t.retry_policy is None else schema.dump(t)
            for t in value
        ]


def _plain_task(t: Any) -> dict[str, Any]:
    return {
        "uuid": str(t.uuid), "reporter_uuid": _uuid_text(t.reporter_uuid),
        "creator_username": t.creator_username, "group_name": t.group_name, "task_id": int(t.task_id),
        "tags": list(t.tags), "labels": list(t.labels), "created_at": t.created_at.isoformat(),
        "updated_at": t.updated_at.isoformat(), "state": TaskState(t.state).name, "timeout": int(t.timeout),
        "priority": int(t.priority), "spec": dict(t.spec),
        "result": None if t.result is None else dict(t.result),
        "upstream_task_uuid": _uuid_text(t.upstream_task_uuid),
        "downstream_task_uuid": _uuid_text(t.downstream_task_uuid),
    }  # fmt: skip


class TasksQueryResp(RespSchema):
    count = fields.Integer(required=True)
    tasks = TaskPageList(fields.Nested(TaskQueryInfo), required=True)
    group_name = fields.String(required=True)
    next_cursor = fields.String(
        metadata={"description": "Extension: pass as cursor for the next page; absent on the last page"}
    )
    exact = fields.Boolean(
        metadata={
            "description": "Extension: false when `count` is a lower bound (a count by filters other than "
            f"group and states stops past {QUERY_LIMIT_MAX} matches); absent when exact"
        }
    )

    @post_dump
    def _drop_no_cursor(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        # The last page (and an exact count) keeps the spec's exact shape.
        if data.get("next_cursor") is None:
            data.pop("next_cursor", None)
        if data.get("exact") is not False:
            data.pop("exact", None)
        return data


# Extension (issue #10 item 11): the agent says in words what went wrong, e.g. which resource is missing;
# absent unless the agent sent one, so results without it keep the spec's exact shape.
RESULT_DETAIL_MAX = 4096


class TaskResultSpec(BodySchema):
    exit_status = StrictInteger(bits=32, required=True)
    msg = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(RESULT_MESSAGES))
    detail = fields.String(
        allow_none=True,
        validate=validate.Length(max=RESULT_DETAIL_MAX),
        metadata={"description": "Extension: what went wrong, in words (e.g. the missing resource)"},
    )


class TaskResultSpecResp(RespSchema):
    exit_status = fields.Integer(required=True)
    msg = fields.String(allow_none=True, metadata={"enum": RESULT_MESSAGES})
    detail = fields.String(
        allow_none=True,
        metadata={"description": "Extension: what went wrong, in words (e.g. the missing resource)"},
    )


class ParsedTaskQueryInfo(TaskQueryInfo):
    spec = fields.Nested(TaskSpecResp, required=True)
    result = fields.Nested(TaskResultSpecResp, allow_none=True)


class ArtifactQueryResp(RespSchema):
    content_type = ArtifactContentTypeField(required=True)
    size = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class TaskAttemptResp(RespSchema):
    """Extension (issue #14): one attempt of a task."""

    number = fields.Integer(required=True)
    worker_uuid = fields.UUID(allow_none=True, required=True)
    started_at = fields.DateTime(required=True)
    ended_at = fields.DateTime(allow_none=True, required=True)
    end = fields.String(
        allow_none=True, required=True, metadata={"enum": [e.value for e in AttemptEnd], "nullable": True}
    )
    exit_status = fields.Integer(allow_none=True, required=True)
    signal = fields.Integer(allow_none=True, required=True)
    msg = fields.String(allow_none=True, required=True)
    retry_at = fields.DateTime(allow_none=True, required=True)
    artifacts = fields.List(
        fields.Nested(ArtifactQueryResp),
        required=True,
        metadata={"description": "What this attempt uploaded: GET .../download/artifacts/{type}?attempt=N"},
    )


class TaskQueryResp(RespSchema):
    info = fields.Nested(ParsedTaskQueryInfo, required=True)
    artifacts = fields.List(fields.Nested(ArtifactQueryResp), required=True)
    attempts = fields.List(
        fields.Nested(TaskAttemptResp),
        metadata={"description": "Extension: the task's attempts, oldest first (one per claim)"},
    )


class TasksCancelByFilterReq(TaskFilter):
    pass


class TasksCancelByFilterResp(RespSchema):
    cancelled_count = fields.Integer(required=True)
    group_name = fields.String(required=True)


class TasksRetryByFilterReq(TaskFilter):
    """Extension: re-run the committed tasks matching the filter (in its group, default the caller's)."""


class TasksRetryByFilterResp(RespSchema):
    retried_count = fields.Integer(required=True)
    group_name = fields.String(required=True)


class TasksCancelByUuidsReq(BodySchema):
    uuids = fields.List(fields.UUID(), required=True)

    @validates_schema
    def _not_empty(self, data: dict[str, Any], **kwargs: Any) -> None:
        if "uuids" in data and not data["uuids"]:
            raise ValidationError("uuids cannot be empty.", "uuids")


class TasksCancelByUuidsResp(RespSchema):
    cancelled_count = fields.Integer(required=True)
    failed_uuids = fields.List(fields.UUID(), required=True)
