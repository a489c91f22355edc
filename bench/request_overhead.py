"""The coordinator's cost around the service on the chained commit (POST /workers/tasks/batch), in
this process: the same requests as `bench.cycle_profile` (Flask's test client, a scratch PostgreSQL
database), in small blocks alternated between variants of the request path, so that a busy machine slows
every variant alike.

Variants (section J of docs/benchmarks.md):
- `before`: as main was before J's cuts: every token decoded by PyJWT on each request (no map of verified
  tokens) and a request-body schema instance built by webargs per request;
- `tokens`: tokens verified before answered from the app's map (`app.security.JWTManager`);
- `both`: that, and each body schema instantiated once (`app.api._blueprint.Blueprint.arguments`): today's.

Prints each variant's median CPU per request over the blocks, and its difference to `before`. On a busy
machine that difference drowns in the noise of whole requests, so the two steps are also timed alone, in
one request's context (the chained commit's token and body), alternated in blocks of 1,000 calls: the
token's verification (`verify_jwt_in_request`) without and with the map, and the body's parse with a
schema class (webargs instantiates it) and with the one instance.

    .venv/bin/python -m bench.request_overhead [--block 100] [--blocks 10]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import marshmallow as ma

from bench.common import load
from bench.cycle_profile import chained_commit, scratch_coordinator


@contextmanager
def _without_token_map(app: Any) -> Iterator[None]:
    tokens = app.extensions.pop("mito_verified_tokens")
    try:
        yield
    finally:
        app.extensions["mito_verified_tokens"] = tokens


@contextmanager
def _schema_per_request() -> Iterator[None]:
    """webargs' behaviour when given a schema class: a new instance for each request."""
    from app.api._blueprint import Blueprint

    parser = Blueprint.ARGUMENTS_PARSER
    own = parser._get_schema

    def per_request(argmap: Any, req: Any) -> ma.Schema:
        return type(argmap)() if isinstance(argmap, ma.Schema) else own(argmap, req)

    parser._get_schema = per_request  # type: ignore[method-assign]
    try:
        yield
    finally:
        del parser._get_schema


@contextmanager
def _variant(app: Any, name: str) -> Iterator[None]:
    if name == "both":
        yield
    elif name == "tokens":
        with _schema_per_request():
            yield
    else:
        with _without_token_map(app), _schema_per_request():
            yield


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--block", type=int, default=100, help="requests per block")
    parser.add_argument("--blocks", type=int, default=10, help="blocks per variant (alternated)")
    args = parser.parse_args(argv)
    variants = ("before", "tokens", "both")
    tasks = args.block * (args.blocks + 1) * len(variants) + 500
    with scratch_coordinator("mito_overhead", tasks) as (app, worker):
        cycle = chained_commit(app, worker)

        def block(run: Callable[[], None]) -> float:
            start = time.process_time()
            for _ in range(args.block):
                run()
            return (time.process_time() - start) * 1000 / args.block

        for variant in variants:  # warm every path
            with _variant(app, variant):
                block(cycle)
        print(f"load average at the start: {load()}")
        cpu: dict[str, list[float]] = {v: [] for v in variants}
        for i in range(args.blocks):
            for variant in variants if i % 2 == 0 else reversed(variants):
                with _variant(app, variant):
                    cpu[variant].append(block(cycle))
        print(f"load average at the end: {load()}")
        _report(cpu)
        _steps(app, worker)


def _report(cpu: dict[str, list[float]]) -> None:
    """Each variant's median CPU per request (ms) and its difference to `before`."""
    base = statistics.median(cpu["before"])
    for variant, values in cpu.items():
        median = statistics.median(values)
        blocks = ", ".join(f"{c:.2f}" for c in values)
        print(
            f"{variant:>7}: median {median:.3f} ms CPU per chained commit ({median - base:+.3f} ms, "
            f"{(median - base) / base * 100:+.1f} %); blocks: {blocks}"
        )


def _steps(app: Any, worker: dict[str, str]) -> None:
    """The two steps J cut, timed alone in the context of one chained commit's request (µs per call)."""
    from flask_jwt_extended import verify_jwt_in_request

    from app.api._blueprint import Blueprint
    from app.schemas.workers import ReportTaskBatchReq

    body = {
        "id": 1,
        "ops": ["Finish", {"Commit": {"exit_status": 0, "msg": None}}],
        "next": True,
        "attempt": 1,
    }
    parser, instance = Blueprint.ARGUMENTS_PARSER, ReportTaskBatchReq()
    steps: dict[str, Callable[[], Any]] = {
        "token, verified by PyJWT": verify_jwt_in_request,
        "token, from the map": verify_jwt_in_request,
        "body, schema class": lambda: parser.parse(ReportTaskBatchReq, location="json"),
        "body, one instance": lambda: parser.parse(instance, location="json"),
    }
    micros: dict[str, list[float]] = {name: [] for name in steps}
    with app.test_request_context("/workers/tasks/batch", method="POST", json=body, headers=worker):
        for _ in range(10):
            for name, step in steps.items():
                with _without_token_map(app) if name == "token, verified by PyJWT" else nullcontext():
                    start = time.process_time()
                    for _ in range(1000):
                        step()
                    micros[name].append((time.process_time() - start) * 1000)  # µs per call
    print(f"the steps alone (µs per call, median of 10 blocks of 1,000; load {load()}):")
    for name, values in micros.items():
        print(f"  {name:>26}: {statistics.median(values):7.1f}")


if __name__ == "__main__":
    main()
