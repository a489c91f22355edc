"""Health schemas."""

from __future__ import annotations

from marshmallow import fields

from app.schemas._base import RespSchema


class HealthResp(RespSchema):
    status = fields.String()
