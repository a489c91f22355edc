"""Schemas of the dashboard's extension endpoints (tag Dashboard): who am I, and the users list for admins."""

from __future__ import annotations

from marshmallow import fields, validate

from app.models import UserState
from app.schemas._base import EnumName, QuerySchema, RespSchema

MAX_USERS_PAGE = 1000


class CurrentUserResp(RespSchema):
    username = fields.String(required=True)
    admin = fields.Boolean(required=True)
    state = EnumName(UserState, required=True)
    group_quota = fields.Integer(required=True, metadata={"description": "Groups this user may create"})
    group_count = fields.Integer(required=True, metadata={"description": "Groups this user has created"})


class UserInfo(CurrentUserResp):
    created_at = fields.DateTime(required=True)
    last_sign_in_at = fields.DateTime(allow_none=True)


class TaskCountsResp(RespSchema):
    group_name = fields.String(required=True)
    counts = fields.Dict(
        keys=fields.String(), values=fields.Integer(), required=True,
        metadata={"description": "Tasks (active and archived) by TaskState name"},
    )  # fmt: skip


class UsersQueryArgs(QuerySchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=0, max=MAX_USERS_PAGE))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=2**62))


class UsersQueryResp(RespSchema):
    count = fields.Integer(required=True, metadata={"description": "Number of users in all"})
    users = fields.List(fields.Nested(UserInfo), required=True)
