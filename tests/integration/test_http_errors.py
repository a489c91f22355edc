"""Every error a live coordinator sends is JSON in the spec's shape, gunicorn's own too (issue 12 item 13).

gunicorn answers some requests before the app sees them (a request line past its limit, headers too large,
an unparsable request line); those used to be HTML. A 405 carries `Allow`.
"""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from app.server import MAX_REQUEST_LINE

pytestmark = pytest.mark.integration


def _raw(url: str, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the whole answer (gunicorn closes the connection after an error)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in header_lines)}
    return int(status_line.split()[1]), headers, body


def _assert_shape(headers: dict[str, str], body: bytes) -> str:
    assert headers["content-type"].startswith("application/json")
    parsed = json.loads(body)
    assert parsed["msg"] == parsed["error"] and parsed["msg"]
    return parsed["msg"]


def test_an_over_long_request_line_is_a_json_414(live_coordinator):
    path = "/health?" + "a" * (MAX_REQUEST_LINE + 10)
    status, headers, body = _raw(live_coordinator.url, f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert status == 414
    assert _assert_shape(headers, body).startswith("URI Too Long")


def test_a_request_line_within_the_limit_reaches_the_app(live_coordinator):
    path = "/no-such-route?" + "a" * (MAX_REQUEST_LINE - 100)
    resp = httpx.get(live_coordinator.url + path, timeout=30)
    assert resp.status_code == 404
    _assert_shape(dict(resp.headers), resp.content)


def test_an_unparsable_request_line_is_a_json_400(live_coordinator):
    status, headers, body = _raw(live_coordinator.url, b"NOT A REQUEST LINE AT ALL\r\n\r\n")
    assert status == 400
    _assert_shape(headers, body)


def test_an_over_large_header_is_a_json_431(live_coordinator):
    request = f"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: {'b' * 10000}\r\n\r\n".encode()
    status, headers, body = _raw(live_coordinator.url, request)
    assert status == 431
    _assert_shape(headers, body)


def test_a_wrong_method_is_a_json_405_with_allow(live_coordinator):
    resp = httpx.delete(live_coordinator.url + "/login", timeout=30)
    assert resp.status_code == 405
    assert _assert_shape(dict(resp.headers), resp.content) == "Method not allowed"
    assert set(resp.headers["allow"].replace(" ", "").split(",")) >= {"POST"}
    assert "DELETE" not in resp.headers["allow"]
