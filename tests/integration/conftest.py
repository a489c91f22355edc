"""Integration tests with live processes. Those marked `backend_independent` use no test database (their
standalone installs keep their own SQLite): they run once, in the PostgreSQL pass of `make test`."""

from __future__ import annotations

import pytest

from tests.conftest import BACKEND


def pytest_collection_modifyitems(config, items):
    skip = pytest.mark.skip(reason="backend independent: runs once, in the PostgreSQL pass of `make test`")
    for item in items:
        if BACKEND == "sqlite" and item.get_closest_marker("backend_independent"):
            item.add_marker(skip)
