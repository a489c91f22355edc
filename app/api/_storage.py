"""Shared by the storage route modules: the download answer and the artifact type path converter."""

from __future__ import annotations

from flask import Flask, Response, jsonify
from flask_smorest import Api
from werkzeug.routing import BaseConverter

from app.models.enums import ArtifactContentType
from app.schemas.storage import DownloadResp
from app.services.storage import Download


def download_response(download: Download, redirect: bool = True) -> Response:
    """302 with `Location` = the presigned URL and the JSON body {url, size} (ARCHITECTURE 6.3);
    `?redirect=false` answers 200 with the same body."""
    response = jsonify(DownloadResp().dump(download))
    if redirect:
        response.status_code = 302
        response.headers["Location"] = download.url
    return response


class ArtifactTypeConverter(BaseConverter):
    """`<artifact_type:content_type>`: any segment (aliases too; the service answers 400 for unknown
    names), documented as the spec's ArtifactContentType enum."""


def register_converters(app: Flask, api: Api) -> None:
    """Register the path converters the storage routes use (before their blueprints)."""
    app.url_map.converters["artifact_type"] = ArtifactTypeConverter
    api.register_converter(
        ArtifactTypeConverter,
        lambda _conv: {"type": "string", "enum": [ct.wire for ct in ArtifactContentType]},
    )
