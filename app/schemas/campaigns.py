"""Campaigns schemas (extension, tag Campaigns): a sweep's grid and task template, its status and tasks."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate, validates_schema

from app.models import TaskState
from app.schemas._base import (
    BodySchema,
    Duration,
    EnumName,
    QuerySchema,
    RespSchema,
    StrictBoolean,
    StrictInteger,
)
from app.schemas.tasks import SubmitTaskReq, TaskSpecResp
from mito.vocab import MAX_CAMPAIGN_TASKS, PointOutcome
from mito.vocab.campaigns import CAMPAIGN_NAME, MAX_CAMPAIGN_PAGE

_OUTCOMES = [o.value for o in PointOutcome]
_STATES = [s.name for s in TaskState if s is not TaskState.Unknown]


class CampaignParameter(BodySchema):
    name = fields.String(required=True, metadata={"description": "Used as {name} in args and env values"})
    values = fields.List(fields.String(), required=True, metadata={"description": "At least one value"})


class CampaignPoints(BodySchema):
    names = fields.List(fields.String(), required=True, metadata={"description": "The rows' parameters"})
    rows = fields.List(
        fields.List(fields.String()), required=True, metadata={"description": "One value per name, per point"}
    )


class CampaignPointsResp(RespSchema):
    names = fields.List(fields.String(), required=True)
    rows = fields.List(fields.List(fields.String()), required=True)


class CampaignTaskReq(SubmitTaskReq):
    """The SubmitTaskReq every task of the campaign is made from (its group is the campaign's)."""

    class Meta(BodySchema.Meta):
        exclude = ("group_name",)


class CreateCampaignReq(BodySchema):
    group_name = fields.String(required=True)
    name = fields.String(
        load_default=None,
        validate=validate.Regexp(
            CAMPAIGN_NAME,
            error="A campaign name is 1-128 letters, digits, '.', '_' or '-', starting alphanumeric.",
        ),
        metadata={"description": "Unique in the group; default: the program's name and a random suffix"},
    )
    parameters = fields.List(
        fields.Nested(CampaignParameter),
        load_default=list,
        metadata={"description": "Swept parameters: every combination of their values is a point"},
    )
    points = fields.Nested(
        CampaignPoints,
        load_default=None,
        metadata={
            "description": "Explicit points (e.g. the rows of a CSV file), each combined with the sweep"
        },
    )
    repeat = StrictInteger(
        load_default=1,
        validate=validate.Range(min=1, max=MAX_CAMPAIGN_TASKS),
        metadata={"description": "Tasks per point"},
    )
    task = fields.Nested(CampaignTaskReq, required=True)


class CampaignTaskResp(RespSchema):
    """The task template as stored (before substitution)."""

    tags = fields.List(fields.String(), required=True)
    labels = fields.List(fields.String(), required=True)
    timeout = Duration(required=True)
    priority = fields.Integer(required=True)
    task_spec = fields.Nested(TaskSpecResp, required=True)


class CampaignParameterResp(RespSchema):
    name = fields.String(required=True)
    values = fields.List(fields.String(), required=True)


class CampaignInfo(RespSchema):
    uuid = fields.UUID(required=True)
    name = fields.String(required=True)
    group_name = fields.String(required=True)
    creator_username = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    task_count = fields.Integer(required=True)
    repeat = fields.Integer(required=True)
    parameter_names = fields.List(fields.String(), required=True)


class CampaignResp(CampaignInfo):
    parameters = fields.List(fields.Nested(CampaignParameterResp), required=True)
    points = fields.Nested(CampaignPointsResp, allow_none=True)
    task = fields.Nested(CampaignTaskResp, required=True, attribute="template")


class CampaignsQueryArgs(QuerySchema):
    group_name = fields.String(load_default=None, metadata={"description": "Default: your personal group"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_CAMPAIGN_PAGE))
    cursor = fields.String(load_default=None, metadata={"description": "The previous page's next_cursor"})


class CampaignsResp(RespSchema):
    campaigns = fields.List(fields.Nested(CampaignInfo), required=True)
    group_name = fields.String(required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class CampaignFailure(RespSchema):
    uuid = fields.UUID(required=True)
    task_id = fields.Integer(required=True)
    params = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    repeat = fields.Integer(required=True, attribute="campaign_repeat")
    state = EnumName(TaskState, required=True)
    exit_status = fields.Integer(allow_none=True)
    msg = fields.String(allow_none=True, attribute="result.msg")
    detail = fields.String(allow_none=True, attribute="result.detail")


class CampaignStatusResp(RespSchema):
    name = fields.String(required=True, attribute="campaign.name")
    group_name = fields.String(required=True, attribute="campaign.group_name")
    task_count = fields.Integer(required=True, attribute="campaign.task_count")
    counts = fields.Dict(
        keys=fields.String(validate=validate.OneOf(_STATES)),
        values=fields.Integer(),
        required=True,
        metadata={"description": "Tasks in each state (active and committed)"},
    )
    outcomes = fields.Dict(
        keys=fields.String(validate=validate.OneOf(_OUTCOMES)),
        values=fields.Integer(),
        required=True,
        metadata={"description": "Committed tasks by how they ended: succeeded, failed, cancelled"},
    )
    committed = fields.Integer(required=True)
    done = fields.Boolean(required=True, metadata={"description": "Every task has a final result"})
    failures = fields.List(
        fields.Nested(CampaignFailure), required=True, metadata={"description": "The first failed tasks"}
    )


class CampaignTasksArgs(QuerySchema):
    limit = fields.Integer(
        load_default=MAX_CAMPAIGN_PAGE, validate=validate.Range(min=1, max=MAX_CAMPAIGN_PAGE)
    )
    cursor = fields.String(load_default=None, metadata={"description": "The previous page's next_cursor"})


class CampaignTaskInfo(RespSchema):
    uuid = fields.UUID(required=True, attribute="task.uuid")
    task_id = fields.Integer(required=True, attribute="task.task_id")
    params = fields.Dict(keys=fields.String(), values=fields.String(), required=True, attribute="task.params")
    repeat = fields.Integer(required=True, attribute="task.campaign_repeat")
    state = EnumName(TaskState, required=True, attribute="task.state")
    outcome = fields.String(allow_none=True, metadata={"enum": _OUTCOMES})
    exit_status = fields.Integer(allow_none=True)
    msg = fields.String(allow_none=True)
    worker_uuid = fields.UUID(allow_none=True, metadata={"description": "The worker that committed it"})
    updated_at = fields.DateTime(required=True, attribute="task.updated_at")
    result_size = fields.Integer(allow_none=True, metadata={"description": "Size of its result artifact"})


class CampaignTasksResp(RespSchema):
    tasks = fields.List(fields.Nested(CampaignTaskInfo), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class CampaignRetryReq(BodySchema):
    failed = StrictBoolean(load_default=True, metadata={"description": "Re-run the failed tasks"})
    cancelled = StrictBoolean(load_default=False, metadata={"description": "Re-run the cancelled tasks"})

    @validates_schema
    def _something(self, data: dict[str, Any], **kwargs: Any) -> None:
        if not data.get("failed") and not data.get("cancelled"):
            raise ValidationError("Nothing to retry: set failed or cancelled.", "failed")


class CampaignRetryResp(RespSchema):
    name = fields.String(required=True)
    group_name = fields.String(required=True)
    retried_count = fields.Integer(required=True, attribute="count")


class CampaignCancelResp(RespSchema):
    name = fields.String(required=True)
    group_name = fields.String(required=True)
    cancelled_count = fields.Integer(required=True, attribute="count")
