"""Health routes: service health check."""

from __future__ import annotations

from app.api._blueprint import Blueprint
from app.schemas.health import HealthResp
from app.services import health as health_service

blp = Blueprint("Health", __name__, description="Service health check")


@blp.route("/health")
@blp.response(200, HealthResp)
def health_check():
    """Health check"""
    return health_service.check()
