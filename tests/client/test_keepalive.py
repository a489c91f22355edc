"""The agent's lean keep-alive pool (client/keepalive.py) against a real HTTP/1.1 server on a thread."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from client import keepalive
from client.http import ApiError, HttpClient, TransportError


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    close_after_answer = False  # close the connection without saying so (an expired keep-alive)
    hold = 0.0  # seconds before answering


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path in _FRAMINGS:
            _FRAMINGS[self.path](self)
            return
        time.sleep(self.server.hold)
        seen = {
            "path": self.path, "body": json.loads(body) if body else None, "peer": self.client_address[1],
            "auth": self.headers.get("Authorization"), "type": self.headers.get("Content-Type"),
        }  # fmt: skip
        status = 404 if self.path.endswith("/missing") else 200
        answer = json.dumps({"msg": "no such task"} if status == 404 else seen).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)
        self.wfile.flush()
        if self.server.close_after_answer:
            self.close_connection = True

    do_GET = do_POST  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


def _chunked(handler: _Handler) -> None:
    handler.send_response(200)
    handler.send_header("Transfer-Encoding", "chunked")
    handler.end_headers()
    handler.wfile.write(b'4;ext=1\r\n{"a"\r\n6\r\n: [1]}\r\n0\r\nX-Trailer: t\r\n\r\n')


def _until_close(handler: _Handler) -> None:
    handler.send_response(200)
    handler.end_headers()
    handler.wfile.write(b'{"a": [2]}')
    handler.close_connection = True


def _no_content(handler: _Handler) -> None:
    handler.send_response(204)
    handler.end_headers()


def _says_close(handler: _Handler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "10")
    handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(b'{"a": [3]}')
    handler.close_connection = True


_FRAMINGS = {"/chunked": _chunked, "/eof": _until_close, "/empty": _no_content, "/close": _says_close}


@pytest.fixture
def server():
    srv = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _url(srv: _Server, path: str = "") -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}{path}"


def test_a_lean_client_sends_json_with_its_token_and_decodes_the_answer(server):
    http = HttpClient(_url(server, "/api/"), "tok", lean=True)
    assert http._pool is not None
    body = http.json("POST", "/workers/tasks/batch", json={"id": 7, "ops": ["Finish"]})
    assert body["path"] == "/api/workers/tasks/batch"
    assert body["body"] == {"id": 7, "ops": ["Finish"]}
    assert body["auth"] == "Bearer tok"
    assert body["type"] == "application/json"
    http.close()


def test_requests_reuse_one_connection(server):
    http = HttpClient(_url(server), "tok", lean=True)
    peers = {http.json("POST", "/x", json={})["peer"] for _ in range(5)}
    assert len(peers) == 1
    http.close()


def test_a_connection_the_server_closed_while_idle_is_replaced_not_failed(server):
    server.close_after_answer = True  # each answer ends its connection, as an expired keep-alive does
    http = HttpClient(_url(server), "tok", lean=True)
    peers = set()
    for _ in range(3):
        peers.add(http.json("POST", "/x", json={})["peer"])
        time.sleep(0.05)  # the server's close has arrived: the idle connection is readable
    assert len(peers) == 3
    http.close()


def test_every_framing_of_an_answer_is_read_and_the_connection_kept_only_when_it_can_be(server):
    http = HttpClient(_url(server), "tok", lean=True)
    first = http.json("POST", "/x", json={})["peer"]
    assert http.json("POST", "/chunked", json={}) == {"a": [1]}
    assert http.json("POST", "/x", json={})["peer"] == first  # a chunked answer keeps the connection
    assert http.request("POST", "/empty", ok=(204,)).content == b""
    assert http.json("POST", "/x", json={})["peer"] == first
    assert http.json("POST", "/eof", json={}) == {"a": [2]}  # no length: the body ends with the connection
    second = http.json("POST", "/x", json={})["peer"]
    assert second != first
    assert http.json("POST", "/close", json={}) == {"a": [3]}
    assert http.json("POST", "/x", json={})["peer"] != second
    http.close()


def test_an_error_status_is_an_api_error_with_the_servers_message(server):
    http = HttpClient(_url(server), "tok", lean=True)
    with pytest.raises(ApiError) as caught:
        http.json("POST", "/missing", json={})
    assert (caught.value.status, caught.value.message) == (404, "no such task")
    assert http.json("POST", "/x", json={})["path"] == "/x"  # the connection is still usable
    http.close()


def test_an_unreachable_coordinator_is_a_transport_error():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once it is closed
    http = HttpClient(f"http://127.0.0.1:{port}", "tok", lean=True)
    with pytest.raises(TransportError) as caught:
        http.json("POST", "/x", json={})
    assert caught.value.status == 0


def test_a_silent_server_is_a_transport_error_after_the_timeout(server):
    server.hold = 1.0
    http = HttpClient(_url(server), "tok", lean=True)
    started = time.monotonic()
    with pytest.raises(TransportError):
        http.request("POST", "/x", json={}, timeout=0.2)
    assert time.monotonic() - started < 0.9
    server.hold = 0.0
    assert http.json("POST", "/x", json={})["path"] == "/x"  # a fresh connection after the failed one
    http.close()


def test_concurrent_requests_each_get_their_own_answer(server):
    http = HttpClient(_url(server), "tok", lean=True)
    answers: dict[int, int] = {}

    def ask(n: int) -> None:
        answers[n] = http.json("POST", "/x", json={"n": n})["body"]["n"]

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == {n: n for n in range(8)}
    http.close()


def test_an_injected_transport_and_query_parameters_go_through_httpx(server):
    seen = []
    mock = httpx.Client(
        transport=httpx.MockTransport(lambda r: seen.append(str(r.url)) or httpx.Response(200, json={})),
        base_url="http://coordinator.test",
    )
    assert HttpClient("http://coordinator.test", lean=True, transport=mock)._pool is None
    http = HttpClient(_url(server), "tok", lean=True)
    http._http = mock
    http.json("GET", "/workers/tasks/u/artifacts/result", params={"redirect": "false"})
    assert seen == ["http://coordinator.test/workers/tasks/u/artifacts/result?redirect=false"]
    http.close()


def test_only_plain_http_without_a_proxy_fits(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    assert keepalive.fits("http://127.0.0.1:5000")
    assert not keepalive.fits("https://mito.example.org")
    monkeypatch.setenv("http_proxy", "http://proxy.example.org:3128")
    assert not keepalive.fits("http://mito.example.org")
    monkeypatch.setenv("no_proxy", "mito.example.org")
    assert keepalive.fits("http://mito.example.org")


def test_a_connection_idle_past_the_expiry_is_closed_by_the_client_not_reused(server, monkeypatch):
    """As httpx's pool (keepalive_expiry, 5 s): the agent, not the coordinator (keep-alive 30 s,
    app/server.py), ends an idle connection, so the server's close never meets a request going out on it.
    The agent's heartbeat comes every 30 s, just when the coordinator closes its idle connection."""
    monkeypatch.setattr(keepalive, "IDLE_EXPIRY_S", 0.2, raising=False)
    http = HttpClient(_url(server), "tok", lean=True)
    first = http.json("POST", "/x", json={})["peer"]
    assert http.json("POST", "/x", json={})["peer"] == first  # reused while fresh
    time.sleep(0.3)
    assert http.json("POST", "/x", json={})["peer"] != first
    http.close()
