"""Extension objects. The Api is made per app (flask-smorest keeps one spec per Api); JWT is shared."""

from __future__ import annotations

from flask_smorest import Api

from app.schemas._base import ErrorSchema
from app.security import JWTManager

jwt = JWTManager()  # flask-jwt-extended's, answering a token it verified before from memory


def make_api() -> Api:
    api = Api()
    api.ERROR_SCHEMA = ErrorSchema
    api.DEFAULT_ERROR_RESPONSE_NAME = None
    return api
