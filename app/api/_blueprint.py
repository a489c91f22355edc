"""Our Blueprint: 400 on validation errors, and decorators that authenticate and document security."""

from __future__ import annotations

import functools

import flask_smorest
from flask import Response, g
from flask.views import MethodView
from flask_jwt_extended import get_jwt, verify_jwt_in_request
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.exceptions import UnsupportedMediaType

from app import auth
from app.errors import Forbidden, storable
from app.schemas._base import ErrorSchema

_ERROR_DESCRIPTIONS = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
}


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
            self._handle_invalid_json_error(ValueError("JSON nested too deeply"), req)
        if not storable(data):
            self._handle_invalid_json_error(ValueError("JSON strings with NUL or lone surrogates"), req)
        return data


def operation_id(view_name: str) -> str:
    """The spec operationId of a view: the camelCase of its snake_case name."""
    head, *rest = view_name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def empty_response(status: int = 200) -> Response:
    """A success with nothing to return: the spec documents no body."""
    return Response(status=status)


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

    def alt_response(self, status_code, response=None, *, schema=None, **kwargs):
        """Error responses (4xx/5xx) document the one error body unless told otherwise."""
        if response is None and schema is None and int(status_code) >= 400:
            schema = ErrorSchema
        return super().alt_response(status_code, response, schema=schema, **kwargs)

    def errors(self, *statuses: int):
        """Document error responses (the one error body) that the operation can answer."""

        def decorator(func):
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
            wrapper = self.alt_response(401, schema=ErrorSchema, description="Unauthorized")(wrapper)
            if admin:
                wrapper = self.alt_response(403, schema=ErrorSchema, description="Forbidden")(wrapper)
            return wrapper

        return decorator

    def worker_required(self, func):
        """Require a valid worker token whose worker still exists; sets g.current_worker."""

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            verify_jwt_in_request()
            g.current_worker = auth.load_worker(get_jwt())
            return func(*args, **kwargs)

        wrapper = self.doc(security=[{"workerAuth": []}])(wrapper)
        return self.alt_response(401, schema=ErrorSchema, description="Unauthorized")(wrapper)
