"""Authentication schemas."""

from __future__ import annotations

from marshmallow import fields

from app.schemas._base import BodySchema, Md5Password, RespSchema, StrictBoolean


class UserLoginReq(BodySchema):
    username = fields.String(required=True)
    md5_password = Md5Password(required=True)
    retain = StrictBoolean(load_default=False, dump_default=False)


class UserLoginResp(RespSchema):
    token = fields.String(required=True)
