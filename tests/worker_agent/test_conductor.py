"""The step table (worker_agent/steps.py) and the conductor that walks it, with scripted step functions."""

from __future__ import annotations

import dataclasses

import pytest

from mito.vocab import ExecState as S
from mito.vocab import TaskResultMessage as M
from worker_agent import steps
from worker_agent.conductor import END, Conductor, Outcome, Step, TableError, Then, check_table
from worker_agent.task import Aborted, StopReason, TaskLost, TaskRun, WorkerGone
from worker_agent.workspace import Workspace

O = Outcome  # noqa: E741


class FakeContext:
    """Records announcements; the scripted steps need nothing else."""

    def __init__(self):
        self.announced: list[S] = []

    def announce(self, run, state):
        self.announced.append(state)


def new_run(tmp_path, **spec) -> TaskRun:
    task = {"id": 1, "uuid": "00000000-0000-4000-8000-000000000001", "timeout": 60, "spec": {"args": ["x"]}}
    task["spec"].update(spec)
    return TaskRun(task=task, workspace=Workspace(tmp_path / "ws"))


def scripted(outcomes: dict[str, Outcome], visited: list[str]) -> dict[str, Step]:
    """The real table with each step's function replaced: it records the visit and returns its outcome."""

    def stub(name):
        def run(ctx, run):
            visited.append(name)
            return outcomes.get(name, O.OK)

        return run

    return {name: dataclasses.replace(step, run=stub(name)) for name, step in steps.STEPS.items()}


def walk(tmp_path, outcomes=None, **spec):
    """Walk the real table with scripted outcomes; return (steps visited, states announced, the run)."""
    visited: list[str] = []
    ctx = FakeContext()
    run = new_run(tmp_path, **spec)
    Conductor(ctx, scripted(outcomes or {}, visited), steps.FIRST).drive(run)
    return visited, ctx.announced, run


# ---------------------------------------------------------------- the real table, path by path
def test_the_table_is_complete_and_every_step_is_reached():
    check_table(steps.STEPS, steps.FIRST)
    for name, step in steps.STEPS.items():
        assert step.then, f"{name} has no transitions"


def test_happy_path_announces_the_upstream_sequence_and_commits_no_message(tmp_path):
    visited, announced, run = walk(tmp_path)
    assert visited == ["fetch", "exec", "finish", "upload_finished", "submit", "commit"]
    assert announced == [
        S.FetchResource, S.ExecPending, S.ExecFinished, S.UploadResult, S.UploadFinishedResult,
        S.UploadResultFinished, S.TaskCommitted,
    ]  # fmt: skip
    assert run.msg is None


def test_watch_step_runs_only_when_the_spec_has_a_watch(tmp_path):
    visited, announced, _ = walk(tmp_path, watch=["00000000-0000-4000-8000-000000000002", "ExecSpawned"])
    assert visited[:3] == ["fetch", "watch", "exec"]
    assert announced[:3] == [S.FetchResource, S.Watch, S.ExecPending]


@pytest.mark.parametrize(
    ("outcome", "state", "msg"),
    [
        (O.NOT_FOUND, S.FetchResourceNotFound, M.ResourceNotFound),
        (O.FORBIDDEN, S.FetchResourceForbidden, M.ResourceForbidden),
        (O.TIMED_OUT, S.FetchResourceTimeout, M.FetchResourceTimeout),
    ],
)
def test_a_resource_failure_cancels_and_commits_its_message(tmp_path, outcome, state, msg):
    visited, announced, run = walk(tmp_path, {"fetch": outcome})
    assert visited == ["fetch", "give_up", "commit"]
    assert announced == [S.FetchResource, state, S.TaskCommitted]
    assert run.msg is msg


def test_a_user_cancel_before_the_command_commits_user_cancellation(tmp_path):
    visited, announced, run = walk(tmp_path, {"fetch": O.CANCELLED})
    assert visited == ["fetch", "give_up", "commit"]
    assert announced == [S.FetchResource, S.TaskCommitted]
    assert run.msg is M.UserCancellation


def test_a_watch_timeout_commits_watch_timeout(tmp_path):
    watch = ["00000000-0000-4000-8000-000000000002", "ExecSpawned"]
    visited, announced, run = walk(tmp_path, {"watch": O.TIMED_OUT}, watch=watch)
    assert visited == ["fetch", "watch", "give_up", "commit"]
    assert announced == [S.FetchResource, S.Watch, S.WatchTimeout, S.TaskCommitted]
    assert run.msg is M.WatchTimeout


@pytest.mark.parametrize(
    ("outcome", "msg"), [(O.TIMED_OUT, M.ExecTimeout), (O.CANCELLED, M.UserCancellation)]
)
def test_a_command_cut_short_is_cancelled_uploaded_and_committed_without_submit(tmp_path, outcome, msg):
    visited, announced, run = walk(tmp_path, {"exec": outcome})
    assert visited == ["fetch", "exec", "cancel", "upload_cancelled", "commit"]
    assert announced == [
        S.FetchResource, S.ExecPending, S.ExecTimeout, S.UploadResult, S.UploadCancelledResult,
        S.UploadResultFinished, S.TaskCommitted,
    ]  # fmt: skip
    assert run.msg is msg


@pytest.mark.parametrize("upload", ["upload_finished", "upload_cancelled"])
def test_an_upload_timeout_commits_upload_result_timeout_and_skips_submit(tmp_path, upload):
    exec_outcome = O.OK if upload == "upload_finished" else O.TIMED_OUT
    visited, announced, run = walk(tmp_path, {"exec": exec_outcome, upload: O.TIMED_OUT})
    assert "submit" not in visited and visited[-2:] == [upload, "commit"]
    assert announced[-2:] == [S.UploadResultTimeout, S.TaskCommitted]
    assert run.msg is M.UploadResultTimeout


def test_a_failed_submit_commits_submit_new_task_failed(tmp_path):
    visited, _, run = walk(tmp_path, {"submit": O.FAILED})
    assert visited[-2:] == ["submit", "commit"]
    assert run.msg is M.SubmitNewTaskFailed


def test_a_commit_answered_404_announces_nothing_more(tmp_path):
    _, announced, _ = walk(tmp_path, {"commit": O.LOST})
    assert announced[-1] is S.UploadResultFinished


@pytest.mark.parametrize(
    ("reason", "error"),
    [(StopReason.SHUTDOWN, Aborted), (StopReason.GONE, WorkerGone), (StopReason.LOST, TaskLost)],
)
def test_a_stop_during_an_abortable_step_leaves_the_table_without_commit(tmp_path, reason, error):
    visited: list[str] = []
    table = scripted({}, visited)
    stopped = table["exec"]

    def exec_then_stop(ctx, run):
        stopped.run(ctx, run)
        run.stop(reason)
        return O.CANCELLED

    table["exec"] = dataclasses.replace(stopped, run=exec_then_stop)
    with pytest.raises(error):
        Conductor(FakeContext(), table, steps.FIRST).drive(new_run(tmp_path))
    assert visited == ["fetch", "exec"]


def test_a_stop_after_the_command_still_uploads_and_commits(tmp_path):
    visited: list[str] = []
    table = scripted({}, visited)
    finish = table["finish"]

    def finish_then_stop(ctx, run):
        run.stop(StopReason.SHUTDOWN)
        return finish.run(ctx, run)

    table["finish"] = dataclasses.replace(finish, run=finish_then_stop)
    Conductor(FakeContext(), table, steps.FIRST).drive(new_run(tmp_path))
    assert visited[-1] == "commit"


# ---------------------------------------------------------------- the engine on a table of its own
def _ok(ctx, run):
    return O.OK


def test_a_new_step_is_one_row(tmp_path):
    table = {
        "a": Step(_ok, enters=(S.FetchResource,), then={O.OK: Then("b", S.FetchResourceFinished)}),
        "b": Step(_ok, enters=(S.ExecPending, S.ExecSpawned), then={O.OK: Then(END, msg=M.ExecTimeout)}),
    }
    ctx = FakeContext()
    run = new_run(tmp_path)
    Conductor(ctx, table, "a").drive(run)
    assert ctx.announced == [S.FetchResource, S.FetchResourceFinished, S.ExecPending, S.ExecSpawned]
    assert run.msg is M.ExecTimeout


def test_a_skipped_step_announces_nothing_and_follows_ok(tmp_path):
    table = {
        "a": Step(_ok, enters=(S.Watch,), when=lambda run: False, then={O.OK: Then("b")}),
        "b": Step(_ok, enters=(S.ExecPending,), then={O.OK: Then(END)}),
    }
    ctx = FakeContext()
    Conductor(ctx, table, "a").drive(new_run(tmp_path))
    assert ctx.announced == [S.ExecPending]


def test_an_outcome_without_a_row_is_a_clear_error(tmp_path):
    table = {"a": Step(lambda ctx, run: O.FAILED, then={O.OK: Then(END)})}
    with pytest.raises(TableError, match="step 'a' has no transition for the outcome 'failed'"):
        Conductor(FakeContext(), table, "a").drive(new_run(tmp_path))


@pytest.mark.parametrize(
    ("table", "first", "message"),
    [
        ({"a": Step(_ok, then={O.OK: Then("nowhere")})}, "a", "leads to 'nowhere'"),
        ({"a": Step(_ok, then={O.OK: Then(END)})}, "start", "first step 'start'"),
        (
            {"a": Step(_ok, then={O.OK: Then(END)}), "orphan": Step(_ok, then={O.OK: Then(END)})},
            "a",
            "never reached from 'a': orphan",
        ),
    ],
)
def test_a_broken_table_is_refused_when_the_conductor_is_built(table, first, message):
    with pytest.raises(TableError, match=message):
        Conductor(FakeContext(), table, first)
