"""`python -m bench [all | throughput | submit | queries | buckets] [its options]` (`make bench`: all).

The benchmarks of issue 13. Each starts what it measures against (its own PostgreSQL database, a
coordinator, the bare Flask claim endpoint and a Celery worker as references) and the run ends with one
table: each goal as project / reference, their ratio, and met or not, with the load average (the machine
may be shared: compare the rows of one run). Results are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import buckets, queries, submit, throughput  # noqa: E402
from bench.common import Figure, load, print_figures  # noqa: E402

SUITES = {
    "throughput": throughput.main,
    "submit": submit.main,
    "queries": queries.main,
    "buckets": buckets.main,
}


def main() -> None:
    name, options = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("all", [])
    if name not in (*SUITES, "all"):
        sys.exit(__doc__.splitlines()[0])
    print(f"load average at the start: {load()}", flush=True)
    figures: list[Figure] = []
    for suite in SUITES if name == "all" else [name]:
        figures.extend(SUITES[suite](options if name != "all" else []))
    print_figures(figures)


if __name__ == "__main__":
    main()
