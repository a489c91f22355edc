"""Where one POST /tasks/query spends its time in the coordinator, in this process (no HTTP server).

The Flask test client drives the whole request (JWT, webargs load, the service and its statements,
marshmallow dump, logging) under cProfile; the statements each request sends are counted. Used by
`python -m bench queries --profile` against a kept or fresh database.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import time
from typing import Any

import sqlalchemy as sa

from bench.common import p50
from tests.helpers import TEST_JWT_SECRET


class _Statements:
    """Counts the statements an engine sends (and their round-trip time) while attached."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine, self.count, self.seconds = engine, 0, 0.0
        self.texts: list[str] = []

    def _before(self, conn: Any, *args: Any) -> None:
        conn.info["bench_t0"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.seconds += time.perf_counter() - conn.info.pop("bench_t0")
        self.count += 1
        self.texts.append(statement)

    def __enter__(self) -> _Statements:
        sa.event.listen(self.engine, "before_cursor_execute", self._before)
        sa.event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._before)
        sa.event.remove(self.engine, "after_cursor_execute", self._after)


def statements_per_request(db_url: str, headers: dict[str, str], body: dict[str, Any]) -> int:
    """How many statements one warm POST /tasks/query sends (the token's lookup included)."""
    from app import create_app, db

    app = create_app(
        {"DB_URL": db_url, "JWT_SECRET": TEST_JWT_SECRET, "CONFIG_FILE": "/none", "LIVENESS_MARKER": False}
    )
    client = app.test_client()
    client.post("/tasks/query", json=body, headers=headers)  # warm
    with _Statements(db.get_engine(db_url)) as counted:
        resp = client.post("/tasks/query", json=body, headers=headers)
    assert resp.status_code == 200, resp.text
    return counted.count


def profile(db_url: str, headers: dict[str, str], body: dict[str, Any], repeat: int, top: int = 25) -> str:
    """p50 of the request in-process, its statements, and cProfile's top functions (cumulative)."""
    from app import create_app, db

    app = create_app(
        {"DB_URL": db_url, "JWT_SECRET": TEST_JWT_SECRET, "CONFIG_FILE": "/none", "LIVENESS_MARKER": False}
    )
    client = app.test_client()
    for _ in range(3):
        client.post("/tasks/query", json=body, headers=headers)
    times = []
    profiler = cProfile.Profile()
    with _Statements(db.get_engine(db_url)) as counted:
        for _ in range(repeat):
            start = time.perf_counter()
            profiler.enable()
            client.post("/tasks/query", json=body, headers=headers)
            profiler.disable()
            times.append((time.perf_counter() - start) * 1000)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
    head = (
        f"{body}: in-process p50 {p50(times):.2f} ms (profiled), "
        f"{counted.count / repeat:.1f} statements/request, {counted.seconds * 1000 / repeat:.2f} ms in SQL\n"
        + "\n".join(f"  {t[:160]}" for t in counted.texts[: int(counted.count / repeat)])
    )
    return head + "\n" + out.getvalue()
