"""The Celery worker's Redis transport (app/jobs/transport.py) against a real Redis: closing a channel whose
connection kombu has already dropped must not raise (it stopped the worker after a broker outage)."""

from __future__ import annotations

import kombu
import redis

from app.jobs import transport
from app.jobs.config import celery_config


def _with_an_unacked_message(url: str, transport_name: str) -> tuple[kombu.Connection, kombu.Connection]:
    conn = kombu.Connection(url, transport=transport_name)
    channel = conn.default_channel
    queue = kombu.Queue("mito-test-transport", channel=channel)
    queue.declare()
    kombu.Producer(channel).publish({"job": 1}, routing_key="mito-test-transport")
    message = queue.get(no_ack=False)  # delivered, not acked: what the worker's prefetch holds
    assert message is not None and message.payload == {"job": 1}
    return conn, channel


def test_a_channel_closed_after_its_connection_keeps_its_unacked_message(redis_db):
    conn, channel = _with_an_unacked_message(redis_db, transport.NAME)
    channel.connection.client = None  # what kombu leaves when the broker connection was lost
    channel.close()  # kombu's own transport: AttributeError 'NoneType' object has no attribute 'hostname'
    assert redis.Redis.from_url(redis_db).hlen("unacked") == 1  # visible again after the visibility timeout


def test_a_channel_closed_normally_still_restores_its_unacked_message(redis_db):
    conn, channel = _with_an_unacked_message(redis_db, transport.NAME)
    conn.close()
    client = redis.Redis.from_url(redis_db)
    assert (client.hlen("unacked"), client.llen("mito-test-transport")) == (0, 1)


def test_the_worker_uses_it_on_redis_and_the_producer_does_not():
    settings = {"BROKER_URL": "redis://127.0.0.1:6379/0", "DATA_DIR": "."}
    assert celery_config(settings, producer=False)["broker_transport"] == transport.NAME
    assert "broker_transport" not in celery_config(settings, producer=True)
