"""Shared by the storage route modules: the download answer and documented error responses."""

from __future__ import annotations

from flask import jsonify
from werkzeug.routing import BaseConverter

from app.models.enums import ArtifactContentType
from app.schemas._base import ErrorSchema

_DESCRIPTIONS = {400: "Bad request", 403: "Forbidden", 404: "Not found"}


def download_response(body: dict, redirect: bool = True):
    """302 with `Location` = the presigned URL and the JSON body {url, size} (ARCHITECTURE 6.3);
    `?redirect=false` answers 200 with the same body."""
    response = jsonify(body)
    if redirect:
        response.status_code = 302
        response.headers["Location"] = body["url"]
    return response


def errors(blp, *statuses: int):
    """Document the spec's error responses of a route."""

    def decorator(func):
        for status in statuses:
            func = blp.alt_response(status, schema=ErrorSchema, description=_DESCRIPTIONS[status])(func)
        return func

    return decorator


class ArtifactTypeConverter(BaseConverter):
    """`<artifact_type:content_type>`: any segment (aliases too; the service answers 400 for unknown
    names), documented as the spec's ArtifactContentType enum."""


def register_converters(app, api) -> None:
    app.url_map.converters["artifact_type"] = ArtifactTypeConverter
    api.register_converter(
        ArtifactTypeConverter,
        lambda _conv: {"type": "string", "enum": [ct.wire for ct in ArtifactContentType]},
    )
