"""Domain errors and the one error renderer: every error body is {"error": m, "msg": m} (+ "errors")."""

from __future__ import annotations

import logging
import re

from flask import Flask, jsonify, request
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class DomainError(Exception):
    status = 500
    default_message = "Internal server error"
    headers: dict[str, str] | None = None  # response headers the error comes with (Retry-After)

    def __init__(self, message: str | None = None, *, errors: dict | None = None, extra: dict | None = None):
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.errors = errors
        self.extra = extra  # documented extension keys of the body (e.g. `removed` on a removed worker's 401)


class InvalidRequest(DomainError):
    status = 400
    default_message = "Invalid request"


class Unauthorized(DomainError):
    status = 401
    default_message = "Authentication error: Invalid token"


class WrongCredentials(Unauthorized):
    default_message = "Authentication error: Wrong credentials"


class WorkerRemoved(WrongCredentials):
    """A worker token whose worker was removed: the body's `removed` says why (mito.vocab.WorkerRemoval)."""

    def __init__(self, worker_uuid: object, reason: str):
        message = f"{self.default_message}: worker {worker_uuid} was removed ({reason})"
        super().__init__(message, extra={"removed": reason})


class Forbidden(DomainError):
    status = 403
    default_message = "Authentication error: Permission denied"


class QuotaExceeded(Forbidden):
    default_message = "Resource quota exceeded"


class Throttled(DomainError):
    """Too many requests of a kind (failed logins): retry after `retry_after` seconds (the header says so)."""

    status = 429
    default_message = "Too many requests: retry later"

    def __init__(self, message: str | None = None, *, retry_after: int):
        super().__init__(message)
        self.headers = {"Retry-After": str(max(1, int(retry_after)))}


class NotFound(DomainError):
    status = 404
    default_message = "Not found"


class AlreadyExists(DomainError):
    status = 409
    default_message = "Already exists"


class Conflict(DomainError):
    status = 409
    default_message = "Conflict with the current state"


class StoreUnavailable(DomainError):
    """The object store cannot be reached (or refuses to serve): retry later; nothing was changed."""

    status = 503
    default_message = "Object store unavailable: try again later"


def error_response(status: int, message: str, errors: dict | None = None, extra: dict | None = None):
    """The one error body, used by every handler below and by the JWT loaders."""
    body: dict = {"error": message, "msg": message}
    if errors:
        body["errors"] = errors
    body.update(extra or {})
    response = jsonify(body)
    response.status_code = status
    return response


_HTTP_MESSAGES = {
    400: "Bad request",
    401: "Authentication error: Invalid token",
    404: "Not found: no such route",
    405: "Method not allowed",
    413: "Request body too large",
    415: "Unsupported media type: expected application/json",
    422: "Invalid request",
}


def storable(value) -> bool:
    """False if a string inside `value` holds a NUL or a lone surrogate (no database can store them)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item or _SURROGATE.search(item):
                return False
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return True


_SURROGATE = re.compile("[\ud800-\udfff]")


def register_error_handlers(app: Flask) -> None:
    @app.before_request
    def _reject_unstorable_text():
        if not storable([request.path, *(part for pair in request.args.items(multi=True) for part in pair)]):
            return error_response(400, "Bad request: NUL characters or lone surrogates in the URL")
        return None

    @app.errorhandler(DomainError)
    def _domain(err: DomainError):
        response = error_response(err.status, err.message, err.errors, err.extra)
        response.headers.update(err.headers or {})
        return response

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        status = err.code or 500
        errors = None
        data = getattr(err, "data", None)  # flask-smorest / webargs validation details
        if isinstance(data, dict) and "messages" in data:
            errors = data["messages"]
        if status == 422:
            status = 400
        message = _HTTP_MESSAGES.get(status) or err.description or err.name
        if errors:
            message = f"Invalid request: {_summarise(errors)}"
        elif status == 400 and err.description and "browser (or proxy)" not in err.description:
            message = f"Bad request: {err.description}"
        response = error_response(status, message, errors)
        for name, value in err.get_headers():
            if name.lower() != "content-type":  # `Allow` of a 405, `Retry-After`, `WWW-Authenticate`
                response.headers[name] = value
        return response

    @app.errorhandler(IntegrityError)
    def _integrity(err: IntegrityError):
        log.info("integrity error rendered as 409: %s", err.orig)
        return error_response(409, "Conflict: the request clashes with existing data")

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        log.exception("unhandled error")
        return error_response(500, "Internal server error")


def _summarise(errors, prefix: str = "") -> str:
    """Flatten webargs' {location: {field: [msgs]}} into 'field: msg; ...'."""
    parts: list[str] = []
    if isinstance(errors, dict):
        for key, value in errors.items():
            if key in ("json", "query", "path", "form", "headers") and not prefix:
                parts.append(_summarise(value, ""))
            else:
                parts.append(_summarise(value, f"{prefix}{key}."))
    elif isinstance(errors, list):
        msgs = [m for m in errors if isinstance(m, str)]
        nested = [m for m in errors if not isinstance(m, str)]
        if msgs:
            parts.append(f"{prefix.rstrip('.') or 'body'}: {' '.join(msgs)}")
        parts.extend(_summarise(n, prefix) for n in nested)
    else:
        parts.append(f"{prefix.rstrip('.')}: {errors}")
    return "; ".join(p for p in parts if p)
