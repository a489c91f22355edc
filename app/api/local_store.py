"""The local store's signed URLs: PUT and GET of objects under DATA_DIR/objects (404 when S3 is used).

Not part of the spec: agents and clients reach these routes only through the URLs the store signs.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, request, send_file

from app.api._blueprint import empty_response
from app.errors import DomainError, InvalidRequest, NotFound
from app.storage import get_storage
from app.storage.local import ROUTE_PREFIX, LocalStorage

blueprint = Blueprint("local_store", __name__)


class LengthRequired(DomainError):
    status = 411
    default_message = "Content-Length required"


def _local_store() -> LocalStorage:
    store = get_storage(current_app.config)
    if not isinstance(store, LocalStorage):
        raise NotFound("Not found: no such route")
    return store


@blueprint.put(f"{ROUTE_PREFIX}/<bucket>/<path:key>")
def put_object(bucket: str, key: str) -> Response:
    """Receive an object through a signed PUT URL."""
    store = _local_store()
    length = store.verify("PUT", bucket, key, request.args)
    if request.content_length is None:
        raise LengthRequired("Content-Length required (chunked uploads are not accepted)")
    if request.content_length != length:
        raise InvalidRequest(
            f"Content-Length {request.content_length} does not match the signed length {length}"
        )
    request.max_content_length = length
    store.write(bucket, key, request.stream, length)
    return empty_response()


@blueprint.get(f"{ROUTE_PREFIX}/<bucket>/<path:key>")
def get_object(bucket: str, key: str) -> Response:
    """Serve an object through a signed GET URL."""
    store = _local_store()
    store.verify("GET", bucket, key, request.args)
    path = store.path(bucket, key)
    if not path.is_file():
        raise NotFound("Object not found")
    return send_file(path, mimetype="application/octet-stream", conditional=True, max_age=0)
