"""Pubsub routes: Redis connection information."""

from __future__ import annotations

from flask import current_app

from app.api._blueprint import Blueprint
from app.schemas.pubsub import RedisConnectionInfo

blp = Blueprint("Pubsub", __name__, description="Redis connection information")


@blp.route("/redis")
@blp.user_required()
@blp.response(200, RedisConnectionInfo)
def get_redis_connection_info():
    """Get Redis connection info"""
    return {"url": current_app.config.get("REDIS_CLIENT_URL") or current_app.config.get("REDIS_URL")}
