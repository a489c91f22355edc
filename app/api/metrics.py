"""Metrics route (extension, tag Metrics): the Prometheus text exposition."""

from __future__ import annotations

from flask import Response, request
from prometheus_client import CONTENT_TYPE_LATEST

from app.api._blueprint import Blueprint
from app.services import metrics as metrics_service

blp = Blueprint("Metrics", __name__, description="Prometheus metrics (loopback, or MITO_METRICS_TOKEN)")


@blp.route("/metrics")
@blp.doc(
    security=[{"metricsToken": []}],
    responses={
        "200": {
            "description": "Prometheus text format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
@blp.errors(401, 403)
def get_metrics():
    """Prometheus metrics"""
    body = metrics_service.scrape(
        remote_addr=request.remote_addr, authorization=request.headers.get("Authorization")
    )
    return Response(body, status=200, content_type=CONTENT_TYPE_LATEST)
