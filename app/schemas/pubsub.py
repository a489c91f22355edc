"""Pub/sub schemas."""

from __future__ import annotations

from marshmallow import fields

from app.schemas._base import RespSchema


class RedisConnectionInfo(RespSchema):
    url = fields.String(allow_none=True)
