"""Live output: the streams a task writes, and the bounds the agent, the coordinator and clients share.

The agent ships at most one chunk of CHUNK_MAX characters per stream every SHIP_INTERVAL seconds; when a
task writes faster, it skips ahead to the newest output and says how many bytes it skipped. The
coordinator keeps the last TAIL_CHUNKS chunks of each task, so one task's tail holds at most
TAIL_CHUNKS * CHUNK_MAX characters per stream pair.
"""

from __future__ import annotations

import enum
from typing import Any

CHUNK_MAX = 16 * 1024  # characters of one chunk (decoded from at least as many bytes)
SHIP_INTERVAL = 0.5  # seconds between two shipments of an agent
TAIL_CHUNKS = 256  # chunks the coordinator keeps per task
CHUNKS_PER_REQUEST = 8  # chunks one shipment may carry
WAIT_MAX = 25.0  # seconds a follower's long-poll may wait for new output


class OutputStream(enum.IntEnum):
    """Which of the task's outputs a chunk comes from; the wire carries the name."""

    stdout = 1
    stderr = 2

    @classmethod
    def parse(cls, value: Any) -> OutputStream:
        """The member of a wire name; ValueError otherwise."""
        try:
            return cls[str(value).strip().lower()]
        except KeyError:
            raise ValueError(f"unknown output stream {value!r} (stdout or stderr)") from None


def skip_marker(skipped: int) -> str:
    """The line a reader shows where the agent skipped output that came too fast to ship."""
    return f"[mito: {skipped} bytes of output skipped: the task wrote faster than live output ships]\n"
