"""Group schemas."""

from __future__ import annotations

from marshmallow import fields

from app.models import GroupState, Role
from app.schemas._base import BodySchema, EnumName, NameList, QuerySchema, RespSchema


class CreateGroupReq(BodySchema):
    group_name = fields.String(required=True)


class GroupQueryInfo(RespSchema):
    group_name = fields.String(required=True)
    creator_username = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    state = EnumName(GroupState, required=True)
    task_count = fields.Integer(required=True)
    storage_quota = fields.Integer(required=True)
    storage_used = fields.Integer(required=True)
    worker_count = fields.Integer(required=True)
    users_in_group = fields.Dict(keys=fields.String(), values=EnumName(Role), allow_none=True)


class UpdateUserGroupRoleReq(BodySchema):
    relations = fields.Dict(keys=fields.String(), values=EnumName(Role), required=True)


class RemoveUserGroupRoleParams(QuerySchema):
    users = NameList()
