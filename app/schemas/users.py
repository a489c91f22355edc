"""User schemas."""

from __future__ import annotations

from marshmallow import fields

from app.models import Role
from app.schemas._base import BodySchema, EnumName, Md5Password, RespSchema


class UserChangePasswordReq(BodySchema):
    old_md5_password = Md5Password(required=True)
    new_md5_password = Md5Password(required=True)


class UserChangePasswordResp(RespSchema):
    token = fields.String(required=True)


class GroupsQueryResp(RespSchema):
    groups = fields.Dict(keys=fields.String(), values=EnumName(Role), required=True)
