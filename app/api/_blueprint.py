"""Our Blueprint: 400 on validation errors, and decorators that authenticate and document security."""

from __future__ import annotations

import functools

import flask_smorest
from flask import g
from flask_jwt_extended import get_jwt, verify_jwt_in_request
from webargs.flaskparser import FlaskParser

from app import auth
from app.errors import Forbidden
from app.schemas._base import ErrorSchema


class Parser(FlaskParser):
    DEFAULT_VALIDATION_STATUS = 400


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = Parser()

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


