"""The client CPU of one agent request (issue 13 goal 1): the agent's keep-alive pool (client/keepalive.py,
urllib3) against httpx, the SDK's client, in the same run: a chained commit's body (9 ops) and a
200-character token POSTed to a local HTTP/1.1 server (http.server, on a thread of this process); the CPU
of the requesting thread per request, alternated rounds.

    .venv/bin/python -m bench.agent_http [--requests 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections.abc import Callable

import httpx

from client.keepalive import KeepAlivePool
from tests.client.test_keepalive import _Handler, _Server

_BODY = {
    "id": 7,
    "ops": [{"ExecState": "ExecSpawned"}] * 6 + ["Finish", {"Commit": {"exit_status": 0, "msg": None}}],
    "next": True,
    "attempt": 1,
}
_HEADERS = {"Authorization": "Bearer " + "x" * 200}


def _cpu_ms(send: Callable[[], object], requests: int) -> float:
    for _ in range(50):
        send()
    start = time.thread_time()
    for _ in range(requests):
        send()
    return (time.thread_time() - start) * 1000 / requests


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    server = _Server(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    pool, reference = KeepAlivePool(url, 5.0), httpx.Client(base_url=url)
    sends = {
        "agent pool (urllib3)": lambda: pool.request("POST", "/x", json=_BODY, headers=_HEADERS),
        "httpx.Client": lambda: reference.post("/x", json=_BODY, headers=_HEADERS),
    }
    results: dict[str, list[float]] = {name: [] for name in sends}
    for _ in range(args.rounds):
        for name, send in sends.items():
            results[name].append(_cpu_ms(send, args.requests))
    for name, cpus in results.items():
        print(f"{name}: {', '.join(f'{c:.3f}' for c in cpus)} ms CPU per request")
    ours, ref = (statistics.median(c) for c in results.values())
    print(f"agent request: {ours:.3f} ms against httpx {ref:.3f} ms: {ours / ref:.2f}x")
    pool.close()
    reference.close()
    server.shutdown()


if __name__ == "__main__":
    main()
