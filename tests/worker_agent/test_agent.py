"""The agent against an in-memory coordinator (fake HTTP transport); the task commands are real processes."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time

import fakeredis
import pytest

from tests.worker_agent.fake import BASE
from worker_agent import agent as agent_module
from worker_agent.agent import Agent


def run_until(agent: Agent, condition, timeout: float = 20.0) -> int | None:
    """Run the agent in a thread until `condition()` holds, then stop it; return its exit code."""
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("rc", agent.run()), daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.02)
    agent.stopping.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    return result.get("rc")


def start(agent: Agent) -> threading.Thread:
    thread = threading.Thread(target=agent.run, daemon=True)
    thread.start()
    return thread


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def stop(agent: Agent, thread: threading.Thread) -> None:
    agent.stopping.set()
    thread.join(timeout=10)
    assert not thread.is_alive()


def committed(fake, uuid):
    return lambda: fake.tasks[uuid]["result"] is not None


def untar(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_echo_task_finishes_uploads_and_commits_zero(fake, make_agent):
    uuid = fake.add_task(
        ["sh", "-c", 'echo hello; echo oops >&2; echo data > "$MITO_RESULT_DIR/out.txt"'],
        terminal_output=True,
    )
    rc = run_until(make_agent(), committed(fake, uuid))
    assert rc == 0
    assert fake.tasks[uuid]["result"] == {"exit_status": 0, "msg": None}
    assert fake.ops(uuid)[0] == "Finish"
    assert untar(fake.artifact(uuid, "std-log")) == {
        "std-log/stdout.log": b"hello\n",
        "std-log/stderr.log": b"oops\n",
    }
    assert untar(fake.artifact(uuid, "result")) == {"result/out.txt": b"data\n"}
    assert fake.artifact(uuid, "exec-log") is None
    states = fake.tasks[uuid]["exec_states"]
    assert states[:3] == ["FetchResource", "ExecPending", "ExecSpawned"]
    assert states[-3:] == ["UploadResult", "UploadFinishedResult", "UploadResultFinished"]
    assert fake.unregistered


def test_exit_code_is_committed_as_exit_status(fake, make_agent):
    uuid = fake.add_task(["sh", "-c", "exit 3"])
    run_until(make_agent(), committed(fake, uuid))
    assert fake.tasks[uuid]["result"] == {"exit_status": 3, "msg": None}
    assert fake.artifact(uuid, "std-log") is None


def test_timeout_kills_and_commits_exec_timeout(fake, make_agent):
    uuid = fake.add_task(["sh", "-c", "trap '' TERM; sleep 30"], timeout="1s")
    started = time.monotonic()
    run_until(make_agent(), committed(fake, uuid))
    assert time.monotonic() - started < 10
    assert fake.tasks[uuid]["result"] == {"exit_status": -9, "msg": "ExecTimeout"}
    assert "Cancel" in fake.ops(uuid)
    assert "ExecTimeout" in fake.tasks[uuid]["exec_states"]


def test_task_env_has_mito_variables_and_not_the_agent_password(fake, make_agent, monkeypatch):
    monkeypatch.setenv("MITO_PASSWORD", "secret")
    script = 'env | grep ^MITO_ | sort > "$MITO_RESULT_DIR/env"; echo "$FOO" >> "$MITO_RESULT_DIR/env"'
    uuid = fake.add_task(["sh", "-c", script], envs={"FOO": "bar"})
    run_until(make_agent(), committed(fake, uuid))
    env = untar(fake.artifact(uuid, "result"))["result/env"].decode()
    names = {line.split("=")[0] for line in env.splitlines() if "=" in line}
    assert names == {
        "MITO_RESULT_DIR",
        "MITO_EXEC_DIR",
        "MITO_RESOURCE_DIR",
        "MITO_TASK_UUID",
        "MITO_NEW_TASK",
    }
    assert f"MITO_TASK_UUID={uuid}" in env
    assert env.splitlines()[-1] == "bar"


def test_resources_are_in_place_before_the_command_starts(fake, make_agent):
    fake.objects["attachments/data/in.txt"] = b"attached"
    source = fake.add_task(["true"])
    fake.queue.remove(source)
    fake.objects[f"artifacts/{source}/result.tar.gz"] = b"tarball"
    script = 'cat "$MITO_RESOURCE_DIR/a/in.txt" "$MITO_RESOURCE_DIR/r.tgz" > "$MITO_RESULT_DIR/seen"'
    resources = [
        {"remote_file": {"Attachment": {"key": "data/in.txt"}}, "local_path": "a/in.txt"},
        {"remote_file": {"Artifact": {"uuid": source, "content_type": "result"}}, "local_path": "r.tgz"},
    ]
    uuid = fake.add_task(["sh", "-c", script], resources=resources)
    run_until(make_agent(), committed(fake, uuid))
    assert untar(fake.artifact(uuid, "result"))["result/seen"] == b"attachedtarball"


def test_missing_resource_commits_resource_not_found(fake, make_agent):
    resources = [{"remote_file": {"Attachment": {"key": "nope"}}, "local_path": "x"}]
    uuid = fake.add_task(["true"], resources=resources)
    run_until(make_agent(), committed(fake, uuid))
    assert fake.ops(uuid) == [
        "Cancel",
        {"Commit": {"exit_status": 0, "msg": "ResourceNotFound", "detail": "attachment 'nope' not found"}},
    ]
    assert "FetchResourceNotFound" in fake.tasks[uuid]["exec_states"]


@pytest.mark.parametrize("local_path", ["../escape", "/etc/passwd", "a/../../b"])
def test_resource_path_escaping_the_resource_dir_is_refused(fake, make_agent, local_path):
    fake.objects["attachments/k"] = b"x"
    resources = [{"remote_file": {"Attachment": {"key": "k"}}, "local_path": local_path}]
    uuid = fake.add_task(["true"], resources=resources)
    run_until(make_agent(), committed(fake, uuid))
    assert fake.tasks[uuid]["result"] == {
        "exit_status": 0,
        "msg": "ResourceForbidden",
        "detail": f"resource path {local_path!r} leaves the resource directory",
    }


def test_heartbeat_cancel_kills_the_task_and_commits_user_cancellation(fake, make_agent):
    uuid = fake.add_task(["sleep", "30"])

    def cancel_when_spawned():
        if "ExecSpawned" in fake.tasks[uuid]["exec_states"]:
            fake.cancel.add(uuid)
        return fake.tasks[uuid]["result"] is not None

    run_until(make_agent(), cancel_when_spawned)
    assert fake.tasks[uuid]["result"] == {"exit_status": -15, "msg": "UserCancellation"}


def test_new_task_file_is_submitted(fake, make_agent):
    req = {
        "group_name": "g",
        "tags": [],
        "labels": [],
        "timeout": "1m",
        "priority": 0,
        "task_spec": {"args": ["x"]},
    }
    uuid = fake.add_task(["sh", "-c", f"echo '{json.dumps(req)}' > \"$MITO_NEW_TASK\""])
    run_until(make_agent(), committed(fake, uuid))
    assert {"Submit": req} in fake.ops(uuid)
    assert fake.tasks[uuid]["result"] == {"exit_status": 0, "msg": None}


def test_bad_new_task_file_commits_submit_failed(fake, make_agent):
    uuid = fake.add_task(["sh", "-c", 'echo "not json" > "$MITO_NEW_TASK"'])
    run_until(make_agent(), committed(fake, uuid))
    assert fake.tasks[uuid]["result"] == {"exit_status": 0, "msg": "SubmitNewTaskFailed"}


def test_unreachable_coordinator_is_retried_until_commit(fake, make_agent):
    fake.fail_next["POST /workers/tasks"] = [503, 503]
    uuid = fake.add_task(["true"])
    run_until(make_agent(), committed(fake, uuid))
    assert fake.tasks[uuid]["result"] == {"exit_status": 0, "msg": None}


def test_401_on_heartbeat_stops_the_agent_and_kills_the_task(fake, make_agent):
    uuid = fake.add_task(["sleep", "30"])
    agent = make_agent()
    thread = start(agent)
    wait_for(lambda: "ExecSpawned" in fake.tasks[uuid]["exec_states"])
    fake.worker_removed = True
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert fake.tasks[uuid]["result"] is None
    assert not fake.unregistered


def test_watch_without_redis_polls_the_coordinator(fake, make_agent):
    watched = fake.add_task(["true"])
    fake.queue.remove(watched)
    uuid = fake.add_task(["true"], watch=[watched, "ExecSpawned"])
    agent = make_agent()
    thread = start(agent)
    wait_for(lambda: "Watch" in fake.tasks[uuid]["exec_states"])
    time.sleep(0.3)
    assert "ExecPending" not in fake.tasks[uuid]["exec_states"]
    fake.tasks[watched]["exec_state"] = "ExecSpawned"
    wait_for(committed(fake, uuid))
    stop(agent, thread)
    assert fake.tasks[uuid]["result"] == {"exit_status": 0, "msg": None}


def test_watch_with_redis_wakes_on_publish(fake, make_agent, monkeypatch):
    watched = fake.add_task(["true"])
    fake.queue.remove(watched)
    uuid = fake.add_task(["true"], watch=[watched, "ExecSpawned"])
    server = fakeredis.FakeServer()
    agent = make_agent(watch_poll_interval=600.0)
    monkeypatch.setattr(agent_module, "connect_redis", lambda url, skip: fakeredis.FakeRedis(server=server))
    thread = start(agent)
    publisher = fakeredis.FakeRedis(server=server)
    # The agent reports Watch, then subscribes: a message published in between would be lost (the safety-net
    # poll is 600 s away), so wait for the subscriber rather than for the Watch state.
    wait_for(lambda: publisher.pubsub_numsub(f"task:{watched}") == [(f"task:{watched}".encode(), 1)])
    publisher.publish(f"task:{watched}", 10)  # ExecPending: not yet
    time.sleep(0.3)
    assert "ExecPending" not in fake.tasks[uuid]["exec_states"]
    publisher.publish(f"task:{watched}", 11)
    wait_for(committed(fake, uuid))
    stop(agent, thread)
    assert fake.tasks[uuid]["result"] == {"exit_status": 0, "msg": None}
    assert publisher.get(f"task:{uuid}") == b"19"


def test_watch_of_a_missing_task_commits_watch_timeout(fake, make_agent):
    uuid = fake.add_task(["true"], watch=["00000000-0000-0000-0000-000000000000", "ExecSpawned"])
    run_until(make_agent(), committed(fake, uuid))
    assert fake.tasks[uuid]["result"] == {"exit_status": 0, "msg": "WatchTimeout"}


def test_cached_credential_is_reused_and_login_is_retained(fake, make_agent, tmp_path):
    run_until(make_agent(), lambda: fake.registered)
    assert len(fake.logins) == 1 and fake.logins[0]["retain"] is True
    run_until(make_agent(password=None), lambda: len(fake.registered) == 2)
    assert len(fake.logins) == 1
    assert json.loads((tmp_path / "cred.json").read_text()) == {
        "users": [{"username": "alice", "token": "valid-user-token", "coordinator": BASE}]
    }


def test_a_cache_in_the_former_agent_format_is_reused_without_login(fake, make_agent, tmp_path):
    (tmp_path / "cred.json").write_text(json.dumps({f"{BASE}|alice": "valid-user-token"}))
    run_until(make_agent(password=None), lambda: fake.registered)
    assert fake.logins == []


def test_a_credential_cached_for_another_coordinator_is_not_sent(fake, make_agent, tmp_path):
    other = {"username": "alice", "token": "valid-user-token", "coordinator": "http://elsewhere"}
    (tmp_path / "cred.json").write_text(json.dumps({"users": [other]}))
    run_until(make_agent(), lambda: fake.registered)
    assert len(fake.logins) == 1


def test_wrong_password_exits_with_an_error(fake, make_agent):
    assert make_agent(user="bob").run() == 1
    assert fake.registered == []


def test_register_sends_tags_groups_labels_and_lifetime(fake, make_agent):
    run_until(make_agent(labels=["l1"], lifetime="1d", groups=["g", "h:admin"]), lambda: fake.registered)
    assert fake.registered == [
        {"tags": ["t"], "groups": ["g", "h:admin"], "labels": ["l1"], "lifetime": "1d"}
    ]


def test_register_defaults_to_the_personal_group(fake, make_agent):
    run_until(make_agent(groups=[]), lambda: fake.registered)
    assert fake.registered[0]["groups"] == ["alice"]
