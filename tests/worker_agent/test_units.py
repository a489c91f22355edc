"""Agent building blocks: config precedence, reach rules, workspaces, the process runner."""

from __future__ import annotations

import io
import tarfile
import threading
import time
from pathlib import Path

import pytest

from mito.vocab import ArtifactContentType
from worker_agent import runner
from worker_agent.config import load_config, parse_seconds
from worker_agent.runner import run_command
from worker_agent.states import ExecState as S
from worker_agent.states import exec_state_reaches, task_state_reaches, watched_task_reaches
from worker_agent.workspace import PathEscapes, Workspace


def test_config_defaults(tmp_path):
    config = load_config({}, env={}, config_file=tmp_path / "none.toml")
    assert config.coordinator == "http://127.0.0.1:5000"
    assert config.polling_interval == 5.0 and config.heartbeat_interval == 30.0 and config.kill_grace == 10.0


def test_config_flags_beat_env_beat_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[worker]\ncoordinator_addr = "http://file"\ntags = ["a", "b"]\n'
        'polling_interval = "3m"\nlabels = "x,y"\n'
    )
    env = {"MITO_COORDINATOR_ADDR": "http://env", "MITO_TAGS": "c", "MITO_POLLING_INTERVAL": "0.2s"}
    config = load_config({"coordinator": "http://flag", "tags": None}, env=env, config_file=path)
    assert config.coordinator == "http://flag"
    assert config.tags == ["c"]
    assert config.polling_interval == 0.2
    assert config.labels == ["x", "y"]
    assert load_config({}, env={}, config_file=path).polling_interval == 180.0


def test_config_groups_keep_roles():
    config = load_config({"groups": "g1, g2:admin"}, env={}, config_file="/nonexistent")
    assert config.groups == ["g1", "g2:admin"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("0.2s", 0.2), ("1.5", 1.5), ("30s", 30), ("5m", 300), ("200ms", 0.2)]
)
def test_parse_seconds(text, seconds):
    assert parse_seconds(text) == pytest.approx(seconds)


def test_parse_seconds_rejects_garbage():
    with pytest.raises(ValueError):
        parse_seconds("soon")


@pytest.mark.parametrize(
    ("current", "target", "reached"),
    [
        (S.ExecSpawned, S.ExecSpawned, True),
        (S.ExecFinished, S.ExecSpawned, True),
        (S.TaskCommitted, S.ExecSpawned, True),
        (S.ExecPending, S.ExecSpawned, False),
        (S.Watch, S.ExecSpawned, False),
        (S.FetchResourceError, S.FetchResource, True),
        (S.UploadFinishedResult, S.ExecFinished, True),
        (S.UploadResultFinished, S.ExecFinished, False),
        (S.UploadCancelledResult, S.ExecTimeout, True),
        (S.TaskCommitted, S.UploadResult, True),
        (S.UploadResultFinished, S.TaskCommitted, False),
        (S.TaskCommitted, S.TaskCommitted, True),
        (S.WorkerExited, S.FetchResource, False),
        (S.ExecSpawned, S.Unknown, False),
    ],
)
def test_exec_state_reach_rules(current, target, reached):
    assert exec_state_reaches(current, target) is reached


def test_task_state_fallback():
    assert task_state_reaches("Running", None, S.FetchResource)
    assert not task_state_reaches("Running", None, S.ExecSpawned)
    assert task_state_reaches("Finished", {"exit_status": 0, "msg": None}, S.TaskCommitted)
    assert not task_state_reaches("Finished", None, S.TaskCommitted)
    assert task_state_reaches("Cancelled", {"exit_status": -9, "msg": "ExecTimeout"}, S.ExecSpawned)
    assert not task_state_reaches("Cancelled", {"exit_status": 0, "msg": "UserCancellation"}, S.ExecSpawned)
    assert not task_state_reaches("Ready", None, S.FetchResource)
    assert watched_task_reaches({"state": "Running", "exec_state": "ExecSpawned"}, S.ExecSpawned)
    assert watched_task_reaches({"state": "Running", "exec_state": "Watch"}, S.ExecSpawned) is None
    assert watched_task_reaches({"state": "Finished", "exec_state": None}, S.TaskCommitted)
    assert watched_task_reaches({"state": "Cancelled", "exec_state": None}, S.ExecSpawned) is None
    done = {"state": "Cancelled", "exec_state": None, "result": {"exit_status": 0, "msg": "UserCancellation"}}
    assert watched_task_reaches(done, S.ExecSpawned) is False
    assert watched_task_reaches(done, S.TaskCommitted) is True


def test_state_parse_accepts_names_ints_and_bytes():
    assert S.parse("ExecSpawned") is S.ExecSpawned
    assert S.parse(b"11") is S.ExecSpawned
    assert S.parse(19) is S.TaskCommitted
    assert S.parse("nonsense") is S.Unknown


@pytest.mark.parametrize("bad", ["", "../x", "/abs", "a/../../x", ".", "a/.."])
def test_resource_path_refuses_escapes(tmp_path, bad):
    ws = Workspace(tmp_path / "ws").create()
    with pytest.raises(PathEscapes):
        ws.resource_path(bad)


def test_resource_path_refuses_a_symlink_out(tmp_path):
    ws = Workspace(tmp_path / "ws").create()
    (ws.resource / "link").symlink_to(tmp_path)
    with pytest.raises(PathEscapes):
        ws.resource_path("link/file")
    assert ws.resource_path("sub/file") == (ws.resource / "sub/file").resolve()


def _names(path: Path) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(path.read_bytes()), mode="r:gz") as tar:
        return {m.name for m in tar.getmembers()}


def test_pack_layout(tmp_path):
    ws = Workspace(tmp_path / "ws").create()
    (ws.result / "r.txt").write_text("r")
    packed = dict(ws.pack(terminal_output=True))
    assert set(packed) == {ArtifactContentType.Result, ArtifactContentType.StdLog}
    assert _names(packed[ArtifactContentType.Result]) == {"result", "result/r.txt"}
    assert _names(packed[ArtifactContentType.StdLog]) == {"std-log/stdout.log", "std-log/stderr.log"}
    assert ws.pack(terminal_output=False)[0][0] is ArtifactContentType.Result


def _run(argv, tmp_path, timeout=10.0, grace=1.0, stop=None, on_running=None):
    return run_command(
        argv, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path, timeout=timeout, grace=grace,
        stdout=tmp_path / "out", stderr=tmp_path / "err", stop=stop or threading.Event(),
        on_running=on_running,
    )  # fmt: skip


@pytest.fixture(params=["pidfd", "polling"])
def waits(request, monkeypatch):
    """The runner's two ways of waiting for the exit: on a pidfd, and Popen's polling where there is none."""
    if request.param == "polling":
        monkeypatch.setattr(runner, "_pidfd", lambda pid: None)
    return request.param


def test_runner_returns_exit_code_and_writes_output_to_files(tmp_path, waits):
    outcome = _run(["sh", "-c", "echo out; echo err >&2; exit 7"], tmp_path)
    assert (outcome.exit_status, outcome.timed_out) == (7, False)
    assert (tmp_path / "out").read_text() == "out\n" and (tmp_path / "err").read_text() == "err\n"


def test_runner_reports_a_signal_as_negative(tmp_path, waits):
    assert _run(["sh", "-c", "kill -9 $$"], tmp_path).exit_status == -9


def test_runner_timeout_kills_a_group_that_ignores_sigterm(tmp_path, waits):
    started = time.monotonic()
    outcome = _run(["sh", "-c", "trap '' TERM; sleep 60 & wait"], tmp_path, timeout=0.5, grace=0.5)
    assert outcome.timed_out and outcome.exit_status == -9
    assert time.monotonic() - started < 5


def test_runner_stop_event_ends_the_process(tmp_path, waits):
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    outcome = _run(["sleep", "60"], tmp_path, stop=stop)
    assert outcome.cancelled and outcome.exit_status == -15


def test_runner_missing_command_is_127(tmp_path):
    assert _run(["/nonexistent/cmd"], tmp_path).exit_status == 127


def test_runner_calls_on_running_once_for_a_command_that_outlives_a_tick(tmp_path, waits, monkeypatch):
    monkeypatch.setattr(runner, "TICK", 0.05)
    calls: list[None] = []
    assert _run(["sleep", "1"], tmp_path, on_running=lambda: calls.append(None)).exit_status == 0
    assert calls == [None]


def test_runner_never_calls_on_running_for_a_command_that_ends_within_the_tick(tmp_path, waits, monkeypatch):
    monkeypatch.setattr(runner, "TICK", 30.0)
    calls: list[None] = []
    assert _run(["true"], tmp_path, on_running=lambda: calls.append(None)).exit_status == 0
    assert calls == []
