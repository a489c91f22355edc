"""Task queries: the page limits the coordinator enforces and the client pages by."""

from __future__ import annotations

from typing import Final

# The most tasks one page of a task query holds: a larger `limit` is refused (400); a query without a
# limit gets this many and a `next_cursor` to continue, so no request builds an unbounded response.
QUERY_LIMIT_MAX: Final = 1000
