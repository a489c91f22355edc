"""Fixtures for the housekeeping tests: a Redis database number reserved for this run."""

from __future__ import annotations

import os

import pytest
import redis

RESERVATION = "mitosis:test-redis-db:{}"


@pytest.fixture(scope="session")
def redis_db_number():
    """Reserve one of Redis's numbered databases (1-15) for this run, so parallel runs never share a queue."""
    control = redis.Redis(host="127.0.0.1", port=6379, db=0)
    for number in range(1, 16):
        if control.set(RESERVATION.format(number), os.getpid(), nx=True, ex=3600):
            break
    else:
        pytest.fail("no free Redis database number (1-15)")
    redis.Redis(host="127.0.0.1", port=6379, db=number).flushdb()
    yield number
    redis.Redis(host="127.0.0.1", port=6379, db=number).flushdb()
    control.delete(RESERVATION.format(number))
    control.close()


@pytest.fixture
def redis_db(redis_db_number):
    """The URL of this run's Redis database, emptied before each test."""
    url = f"redis://127.0.0.1:6379/{redis_db_number}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()
    return url
