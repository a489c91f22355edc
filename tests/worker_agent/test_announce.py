"""worker_agent.announce: an exec state is SET and PUBLISHed on Redis in one round trip from the publishing
thread, in order, and queued for the coordinator; a failing or hung Redis holds nothing up."""

from __future__ import annotations

import threading
from pathlib import Path

import fakeredis
import redis

from mito.vocab import ExecState as S
from worker_agent.announce import Announcer, redis_key
from worker_agent.task import TaskRun
from worker_agent.workspace import Workspace

UUID = "00000000-0000-4000-8000-000000000001"


class _Outbox:
    def __init__(self):
        self.ops: list = []

    def put(self, run, op):
        self.ops.append(op)


def _announcer(client) -> tuple[Announcer, _Outbox, TaskRun]:
    outbox = _Outbox()
    announcer = Announcer(outbox)
    announcer.redis = client
    run = TaskRun(
        task={"id": 1, "uuid": UUID, "timeout": 600, "spec": {"args": ["true"]}},
        workspace=Workspace(Path("unused")),
    )
    return announcer, outbox, run


def test_each_state_is_set_with_its_ttl_and_published_in_order():
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)
    listener = fakeredis.FakeRedis(server=server).pubsub()
    listener.subscribe(redis_key(UUID))
    listener.get_message(timeout=1)  # the subscription's confirmation
    announcer, outbox, run = _announcer(client)
    announcer.announce(run, S.FetchResource)
    assert announcer.flush()
    assert 0 < client.ttl(redis_key(UUID)) <= 360
    announcer.announce(run, S.ExecPending)
    assert announcer.flush()
    assert 600 < client.ttl(redis_key(UUID)) <= 660  # the task's timeout and a minute
    announcer.announce(run, S.ExecSpawned)
    assert announcer.flush()
    assert client.get(redis_key(UUID)) == str(int(S.ExecSpawned)).encode()
    assert client.ttl(redis_key(UUID)) == -1  # no expiry while the command runs
    announcer.announce(run, S.TaskCommitted)
    published = [listener.get_message(timeout=1)["data"] for _ in range(4)]
    assert published == [
        str(int(s)).encode() for s in (S.FetchResource, S.ExecPending, S.ExecSpawned, S.TaskCommitted)
    ]
    assert outbox.ops == [
        {"ExecState": s} for s in ("FetchResource", "ExecPending", "ExecSpawned")
    ]  # not the last


def test_a_redis_that_fails_holds_nothing_up():
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)  # nothing listens on port 1
    announcer, outbox, run = _announcer(down)
    announcer.announce(run, S.ExecSpawned)
    assert outbox.ops == [{"ExecState": "ExecSpawned"}]
    assert announcer.flush(timeout=10)  # the failure was logged, the next states go on
    announcer.close()


class _HungRedis:
    """A Redis whose every round trip waits until the test lets it go."""

    def __init__(self):
        self.release = threading.Event()
        self.sent: list[tuple] = []

    def pipeline(self, transaction=True):
        return self

    def set(self, key, value, ex=None):
        self.sent.append(("set", key, value))

    def publish(self, key, value):
        self.sent.append(("publish", key, value))

    def execute(self):
        self.release.wait()


def test_a_hung_redis_holds_neither_the_task_nor_the_report_up():
    hung = _HungRedis()
    announcer, outbox, run = _announcer(hung)
    announcing = threading.Thread(
        target=lambda: [announcer.announce(run, s) for s in (S.FetchResource, S.ExecPending, S.ExecSpawned)]
    )
    announcing.start()
    announcing.join(timeout=30)
    assert not announcing.is_alive()  # returned while Redis still has not answered the first state
    assert outbox.ops == [{"ExecState": s} for s in ("FetchResource", "ExecPending", "ExecSpawned")]
    assert not announcer.flush(timeout=0.2)
    hung.release.set()
    assert announcer.flush(timeout=10)
    published = [value for verb, _, value in hung.sent if verb == "publish"]
    assert published == [int(S.FetchResource), int(S.ExecPending), int(S.ExecSpawned)]
    announcer.close()
