"""The one HTTP layer shared by the SDK, the CLI and the worker agent.

Errors come back as ApiError carrying the status and the server's message (the `msg` of the error body).
The transport is injectable (httpx.Client), so tests can route it anywhere. The worker agent asks for
`lean` requests: without an injected transport, a plain-http coordinator is then reached through a keep-alive
pool (urllib3, client/keepalive.py), at about half of httpx's CPU per request; responses are
httpx.Response all the same.
"""

from __future__ import annotations

from typing import Any

import httpx
import urllib3

from client import keepalive


class ApiError(Exception):
    """An HTTP error answered by the coordinator."""

    def __init__(self, status: int, message: str, body: Any = None):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message
        self.body = body


class TransportError(ApiError):
    """The coordinator could not be reached (connection refused, timeout)."""

    def __init__(self, message: str):
        super().__init__(0, message)


class HttpClient:
    """Requests to one coordinator, with its bearer token; errors become ApiError."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.Client | None = None,
        lean: bool = False,
    ):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._http = transport or httpx.Client(base_url=self.base_url, timeout=timeout)
        self._pool = None  # requests without query parameters go through it when set (`lean`)
        if lean and transport is None and keepalive.fits(self.base_url):
            self._pool = keepalive.KeepAlivePool(self.base_url, timeout)

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._http.close()
        if self._pool is not None:
            self._pool.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        ok: tuple[int, ...] = (200,),
        token: str | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        """Send one request; return the response if its status is in `ok`, else raise ApiError."""
        headers = {}
        bearer = token or self.token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        try:
            if self._pool is not None and params is None:
                resp = self._pool.request(method, path, json=json, headers=headers, timeout=timeout)
            else:
                resp = self._httpx(method, path, json, params, headers, timeout)
        except (httpx.TransportError, OSError, urllib3.exceptions.HTTPError) as exc:
            raise TransportError(f"cannot reach the coordinator at {self.base_url}: {exc}") from exc
        if resp.status_code not in ok:
            raise ApiError(resp.status_code, _error_message(resp), _json_or_none(resp))
        return resp

    def _httpx(
        self, method: str, path: str, json: Any, params: Any, headers: dict[str, str], timeout: float | None
    ) -> httpx.Response:
        kwargs: dict[str, Any] = {"headers": headers, "params": params}
        if json is not None:
            kwargs["json"] = json
        if timeout is not None:
            kwargs["timeout"] = timeout
        return self._http.request(method, path, **kwargs)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send one request and decode its JSON body (None for an empty body)."""
        return _json_or_none(self.request(method, path, **kwargs))


def _json_or_none(resp: httpx.Response) -> Any:
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return None


def _error_message(resp: httpx.Response) -> str:
    body = _json_or_none(resp)
    if isinstance(body, dict):
        return str(body.get("msg") or body.get("error") or body)
    return resp.text.strip() or resp.reason_phrase
