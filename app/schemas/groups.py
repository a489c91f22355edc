"""Group schemas."""

from __future__ import annotations

from marshmallow import fields

from app.models import GroupState, Role
from app.schemas._base import BodySchema, EnumName, NameList, QuerySchema, RespSchema


class CreateGroupReq(BodySchema):
    group_name = fields.String(required=True)


class GroupQueryInfo(RespSchema):
    """Dumped from the group service's GroupDetails: the group row plus worker_count and users_in_group."""

    group_name = fields.String(required=True, attribute="group.group_name")
    creator_username = fields.String(required=True, attribute="group.creator.username")
    created_at = fields.DateTime(required=True, attribute="group.created_at")
    updated_at = fields.DateTime(required=True, attribute="group.updated_at")
    state = EnumName(GroupState, required=True, attribute="group.state")
    task_count = fields.Integer(required=True, attribute="group.task_count")
    storage_quota = fields.Integer(required=True, attribute="group.storage_quota")
    storage_used = fields.Integer(required=True, attribute="group.storage_used")
    worker_count = fields.Integer(required=True)
    users_in_group = fields.Dict(keys=fields.String(), values=EnumName(Role), allow_none=True)


class UpdateUserGroupRoleReq(BodySchema):
    relations = fields.Dict(keys=fields.String(), values=EnumName(Role), required=True)


class RemoveUserGroupRoleParams(QuerySchema):
    users = NameList()
