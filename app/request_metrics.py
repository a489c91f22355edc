"""Latency histograms of this process: every request by route, and workers' fetches (claims) by outcome."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request

from app.services.metrics import CLAIM_SECONDS, REQUEST_SECONDS

_CLAIM_OUTCOMES = {200: "claimed", 204: "empty"}


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _observe(resp: Response) -> Response:
    if "metrics_started" not in g:
        return resp
    seconds = time.perf_counter() - g.metrics_started
    route = request.url_rule.rule if request.url_rule is not None else "unmatched"
    REQUEST_SECONDS.labels(route, request.method).observe(seconds)
    if request.endpoint == "Workers.fetch_task":
        CLAIM_SECONDS.labels(_CLAIM_OUTCOMES.get(resp.status_code, "refused")).observe(seconds)
    return resp


def init_app(app: Flask) -> None:
    """Time every request (the histograms GET /metrics reports)."""
    app.before_request(_start)
    app.after_request(_observe)
