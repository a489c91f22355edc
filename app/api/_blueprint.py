"""Our Blueprint: 400 on validation errors, and decorators that authenticate and document security."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

import flask_smorest
from flask import Response, g, request
from flask.views import MethodView
from flask_jwt_extended import get_jwt, verify_jwt_in_request
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import UnsupportedMediaType

from app import auth, db
from app.errors import Forbidden, InvalidRequest, storable
from app.schemas._base import ErrorSchema

F = TypeVar("F", bound=Callable[..., Any])

_ERROR_DESCRIPTIONS = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
    429: "Too many requests (Retry-After says when to retry)",
}


REQUIRED_BODY = "Invalid request: body: a JSON body is required"


class Parser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400

    def _raw_load_json(self, req):
        """A body that is not declared JSON is refused with 415; no body at all reads as missing fields.

        JSON nested too deeply and strings no database can store (NUL, lone surrogates) are invalid (400).
        """
        if not is_json_request(req):
            if req.get_data(cache=True):
                raise UnsupportedMediaType()
            return core.missing
        try:
            data = super()._raw_load_json(req)
        except RecursionError:
            self._handle_invalid_json_error(json.JSONDecodeError("JSON nested too deeply", "", 0), req)
        if not storable(data):
            self._handle_invalid_json_error(
                json.JSONDecodeError("JSON strings with NUL or lone surrogates", "", 0), req
            )
        return data


def operation_id(view_name: str) -> str:
    """The spec operationId of a view: the camelCase of its snake_case name."""
    head, *rest = view_name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def empty_response() -> Response:
    """The one way to answer "200, no body" (the spec documents no body for these successes)."""
    return Response(status=200)


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()

    def _store_endpoint_docs(self, endpoint, obj, parameters, tags, **options):
        """Document each function view's operationId as the camelCase of its name (the spec's operationId)."""
        super()._store_endpoint_docs(endpoint, obj, parameters, tags, **options)
        if isinstance(obj, type(MethodView)):
            return
        for method, doc in self._docs[endpoint].items():
            if method != "parameters":
                doc.setdefault("manual_doc", {}).setdefault("operationId", operation_id(obj.__name__))

    def arguments(self, schema, *, location: str = "json", required: bool = True, **kwargs):
        """flask-smorest's; a JSON body documented as required (the default) is refused (400) when absent.

        A schema class is instantiated here, once: given the class, webargs builds an instance per request
        (~2 % of a chained commit's CPU). marshmallow's `load` keeps no state on the instance.

        Without this a bodyless request parsed as an empty body: every filter field missing, so e.g.
        `POST /tasks/cancel` with no body cancelled every task of the caller's group.
        """
        schema = schema() if isinstance(schema, type) else schema  # webargs would build one per request
        parse = super().arguments(schema, location=location, required=required, **kwargs)
        if location != "json" or not required:
            return parse

        fields = schema.fields.values()
        missing = {f.data_key or f.name: ["Missing data for required field."] for f in fields if f.required}

        def decorator(func):
            parsed = parse(func)

            @functools.wraps(parsed)
            def wrapper(*args, **kwargs):
                if not request.get_data(cache=True):
                    raise InvalidRequest(REQUIRED_BODY, errors={"json": missing} if missing else None)
                return parsed(*args, **kwargs)

            return wrapper

        return decorator

    def errors(self, *statuses: int) -> Callable[[F], F]:
        """The one way to document error responses: each status with the one error body (ErrorSchema)."""

        def decorator(func: F) -> F:
            for status in statuses:
                func = self.alt_response(status, schema=ErrorSchema, description=_ERROR_DESCRIPTIONS[status])(
                    func
                )
            return func

        return decorator

    def user_required(self, admin: bool = False):
        """Require a valid, current user token (and admin rights if asked); sets g.current_user."""

        def decorator(func):
            @functools.wraps(func)
            def wrapper(*args, **kwargs):
                verify_jwt_in_request()
                user = auth.load_user(get_jwt())
                if admin and not user.admin:
                    raise Forbidden()
                g.current_user = user
                return func(*args, **kwargs)

            wrapper = self.doc(security=[{"bearerAuth": []}])(wrapper)
            return self.errors(401, 403)(wrapper) if admin else self.errors(401)(wrapper)

        return decorator

    @staticmethod
    def reads_in_autocommit(func: F) -> F:
        """A read-only route (above `user_required`: the token's user is read too): on PostgreSQL its reads
        take no transaction, two round trips fewer (`db.reads_in_autocommit`)."""
        return db.reads_in_autocommit(func)

    def worker_required(self, func=None, *, lookup: bool = True):
        """Require a valid worker token whose worker still exists; sets g.current_worker.

        `lookup=False` (hot routes whose service locks the worker row anyway): g.current_worker is the
        token's WorkerIdentity, and that lock refuses a removed worker, one statement fewer per request.
        """
        if func is None:
            return functools.partial(self.worker_required, lookup=lookup)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            verify_jwt_in_request()
            claims = get_jwt()
            g.current_worker = auth.load_worker(claims) if lookup else auth.worker_identity(claims)
            return func(*args, **kwargs)

        wrapper = self.doc(security=[{"workerAuth": []}])(wrapper)
        return self.errors(401)(wrapper)
