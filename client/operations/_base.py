"""What every group of SDK operations stands on: the HTTP layer that carries the user's token."""

from __future__ import annotations

from typing import Any, cast
from urllib.parse import quote

import httpx

from client.bodies import Json
from client.http import HttpClient


def q(segment: str) -> str:
    """A path segment, quoted whole."""
    return quote(str(segment), safe="")


def key_path(key: str) -> str:
    """Attachment keys may hold '/', which stays a path separator on the wire."""
    return quote(key, safe="/")


class Operations:
    """The state the operations share; `client.sdk.Mitosis` sets it up."""

    http: HttpClient
    _client: httpx.Client

    def _call(self, method: str, path: str, **kwargs: Any) -> Json:
        # The decoded body: a JSON object for every operation that has one (None for the empty 200s).
        return cast(Json, self.http.json(method, path, **kwargs))
