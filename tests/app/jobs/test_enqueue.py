"""The API side of the jobs: /health with Redis up or down, and enqueue that never blocks on the broker."""

from __future__ import annotations

import logging

import pytest

from app import create_app
from app.jobs.enqueue import enqueue
from tests.helpers import free_port


@pytest.fixture
def make_app(app_config):
    def make(**overrides):
        return create_app({**app_config, **overrides})

    return make


def test_health_without_redis_configured_is_ok(client):
    assert client.get("/health").get_json() == {"status": "ok"}


def test_health_with_redis_answering_is_ok(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:6379/0")
    resp = app.test_client().get("/health")
    assert (resp.status_code, resp.get_json()) == (200, {"status": "ok"})


def test_health_with_redis_unreachable_says_degraded(make_app):
    app = make_app(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    resp = app.test_client().get("/health")
    assert (resp.status_code, resp.get_json()) == (200, {"status": "degraded", "redis": "unreachable"})


def test_health_with_separate_broker_unreachable_names_it(make_app):
    app = make_app(REDIS_URL="redis://127.0.0.1:6379/0", BROKER_URL=f"redis://127.0.0.1:{free_port()}/0")
    resp = app.test_client().get("/health")
    assert resp.get_json() == {"status": "degraded", "broker": "unreachable"}


def test_app_without_broker_registers_no_celery(app):
    assert "celery" not in app.extensions


def test_app_with_broker_registers_producer(make_app):
    app = make_app(BROKER_URL="redis://127.0.0.1:6379/0")
    celery = app.extensions["celery"]
    assert celery.conf.broker_url == "redis://127.0.0.1:6379/0"
    assert celery.conf.task_publish_retry is False


def test_enqueue_with_broker_down_logs_and_returns(make_app, caplog):
    app = make_app(BROKER_URL=f"redis://127.0.0.1:{free_port()}/0")
    with app.app_context(), caplog.at_level(logging.WARNING, logger="app.jobs.enqueue"):
        enqueue("jobs.storage.delete_pending")
    assert "broker unreachable, job jobs.storage.delete_pending left to the periodic schedule" in caplog.text


def test_enqueue_sends_by_name_to_broker(make_app, redis_db):
    import redis

    app = make_app(BROKER_URL=redis_db)
    with app.app_context():
        enqueue("jobs.quota.recompute")
    # the Redis transport keeps the default queue as a list named "celery"
    client = redis.Redis.from_url(redis_db)
    [message] = client.lrange("celery", 0, -1)
    assert b"jobs.quota.recompute" in message
    client.close()


def test_enqueue_without_broker_is_a_no_op(app):
    with app.app_context():
        enqueue("jobs.quota.recompute")
    assert "celery" not in app.extensions


def test_register_worker_hands_out_the_workers_redis_url(make_app, admin_headers):
    app = make_app(REDIS_URL="redis://127.0.0.1:6379/0", REDIS_WORKER_URL="redis://agents@127.0.0.1:6379/0")
    resp = app.test_client().post("/workers", json={"tags": [], "groups": []}, headers=admin_headers)
    assert resp.status_code == 200
    assert resp.get_json()["redis_url"] == "redis://agents@127.0.0.1:6379/0"


def test_register_worker_without_redis_hands_out_null(client, admin_headers):
    resp = client.post("/workers", json={"tags": [], "groups": []}, headers=admin_headers)
    assert resp.status_code == 200
    assert resp.get_json()["redis_url"] is None
