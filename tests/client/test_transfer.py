"""The one presigned-transfer helper (client/transfer.py), shared by the SDK, the CLI and the agent."""

from __future__ import annotations

import httpx
import pytest

from client.http import ApiError, TransportError
from client.transfer import absolute_url, get_file, put_file


def test_absolute_url_resolves_local_store_paths_against_the_coordinator():
    assert absolute_url("http://coord:5000", "/storage/k?sig=1") == "http://coord:5000/storage/k?sig=1"
    assert absolute_url("http://coord:5000/", "http://s3/bucket/k") == "http://s3/bucket/k"


def test_put_sends_the_content_length_and_no_token(tmp_path):
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(body=request.read(), headers=request.headers)
        return httpx.Response(200)

    src = tmp_path / "f"
    src.write_bytes(b"abc")
    assert put_file(httpx.Client(transport=httpx.MockTransport(handler)), "http://store/k", src) == 3
    assert seen["body"] == b"abc" and seen["headers"]["Content-Length"] == "3"
    assert "Authorization" not in seen["headers"]


def test_get_follows_redirects_and_creates_the_directory(tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old":
            return httpx.Response(307, headers={"Location": "http://store/new"})
        return httpx.Response(200, content=b"moved")

    dest = tmp_path / "a" / "b" / "f"
    assert get_file(httpx.Client(transport=httpx.MockTransport(handler)), "http://store/old", dest) == 5
    assert dest.read_bytes() == b"moved"


def test_a_refused_get_raises_api_error_with_the_store_status(tmp_path):
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(403, text="expired")))
    with pytest.raises(ApiError) as info:
        get_file(client, "http://store/k", tmp_path / "f")
    assert info.value.status == 403 and "expired" in info.value.message


def test_an_unreachable_store_raises_transport_error(tmp_path):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = httpx.Client(transport=httpx.MockTransport(refuse))
    src = tmp_path / "f"
    src.write_bytes(b"x")
    with pytest.raises(TransportError) as info:
        put_file(client, "http://store/k", src)
    assert info.value.status == 0
    with pytest.raises(TransportError):
        get_file(client, "http://store/k", tmp_path / "g")
