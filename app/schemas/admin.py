"""Admin schemas."""

from __future__ import annotations

from marshmallow import fields

from app.models import UserState
from app.schemas._base import BodySchema, EnumName, Md5Password, RespSchema, StrictBoolean


class CreateUserReq(BodySchema):
    username = fields.String(required=True)
    md5_password = Md5Password(required=True)
    admin = StrictBoolean(required=True)


class AdminChangePasswordReq(BodySchema):
    new_md5_password = Md5Password(required=True)


class ChangeUserStateReq(BodySchema):
    state = EnumName(UserState, required=True)


class UserStateResp(RespSchema):
    state = EnumName(UserState, required=True)


class ChangeUserGroupQuota(BodySchema):
    group_quota = fields.String(required=True)


class UserGroupQuotaResp(RespSchema):
    group_quota = fields.Integer(required=True)


class ChangeGroupStorageQuotaReq(BodySchema):
    storage_quota = fields.String(required=True)


class GroupStorageQuotaResp(RespSchema):
    storage_quota = fields.Integer(required=True)


class ShutdownReq(BodySchema):
    secret = fields.String(required=True)
