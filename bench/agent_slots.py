"""Agent slots benchmark (not a test): what N slots of one agent cost the coordinator while idle.

Each slot is a worker of its own, with its own heartbeats and fetches. This starts `mito standalone
--workers N` (one local agent with N slots) for each N, waits until the N workers are registered, and counts
the agent requests the coordinator served over a window (its own request histogram, GET /metrics, before
and after). The reference is N = 1 in the same run: the ratio says how the idle load grows with the slots.
The agent intervals are shortened (polling 1 s, heartbeat 2 s) so that a short window holds many requests;
at the defaults (5 s, 30 s) the same counts scale to N x (1/5 + 1/30) = N x 0.23 requests/s.

    .venv/bin/python bench/agent_slots.py [--slots 1,4,16] [--window 30]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import worker_requests  # noqa: E402
from client.sdk import Mitosis  # noqa: E402
from tests.integration.standalone import Standalone, standalone_env  # noqa: E402

POLLING, HEARTBEAT = 1.0, 2.0


def measure(slots: int, window: float, tmp: Path) -> dict[str, float]:
    """Requests per second by route from an idle agent with `slots` slots."""
    env = standalone_env(MITO_HEARTBEAT_INTERVAL=f"{HEARTBEAT}s")
    with Standalone(tmp, "--workers", str(slots), "--polling-interval", f"{POLLING}s", env=env) as sa:
        sdk = Mitosis(sa.url)
        sdk.login("mitosis_admin", "mitosis_admin")
        while sdk.query_workers(count=True)["count"] < slots:
            time.sleep(0.2)
        time.sleep(2 * HEARTBEAT)  # every slot past its first heartbeat
        before, t0 = worker_requests(sa.url), time.monotonic()
        time.sleep(window)
        after, t1 = worker_requests(sa.url), time.monotonic()
        sdk.close()
    return {route: (after[route] - before.get(route, 0.0)) / (t1 - t0) for route in after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slots", default="1,4,16")
    parser.add_argument("--window", type=float, default=30.0)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} (nproc {os.cpu_count()})")
    print(f"agent polling {POLLING:g}s, heartbeat {HEARTBEAT:g}s, window {args.window:g}s")
    reference = None
    for n in (int(s) for s in args.slots.split(",")):
        with tempfile.TemporaryDirectory(prefix="mito-bench-slots-") as folder:
            rates = measure(n, args.window, Path(folder))
        total = sum(rates.values())
        reference = reference or total
        detail = ", ".join(f"{route} {rate:.2f}/s" for route, rate in sorted(rates.items()) if rate)
        print(f"slots={n:3d}: {total:6.2f} requests/s ({total / reference:.1f}x slots=1; {detail})")
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
