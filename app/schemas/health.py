"""Health schemas."""

from __future__ import annotations

from marshmallow import fields

from app.schemas._base import RespSchema


class HealthResp(RespSchema):
    status = fields.String(metadata={"description": '"ok", or "degraded" with the failing parts named'})
    redis = fields.String(metadata={"description": '"unreachable" when the configured Redis does not answer'})
    broker = fields.String(
        metadata={"description": '"unreachable" when the configured broker does not answer'}
    )
