"""`mito tasks ...` through click's runner against a real coordinator (tests/client/conftest.py)."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER


@pytest.fixture
def logged_in(mito):
    mito("login", ADMIN_USER, ADMIN_PASSWORD)
    return mito


def _spec(mito, *submit_args: str) -> dict:
    uuid = json.loads(mito("--json", "tasks", "submit", *submit_args).stdout)["uuid"]
    return json.loads(mito("tasks", "get", uuid, "--json").output)["info"]


@pytest.mark.parametrize(
    ("words", "args", "labels"),
    [
        (["ls", "-la"], ["ls", "-la"], []),
        (["-l", "x", "ls", "-l", "-t", "y"], ["ls", "-l", "-t", "y"], ["x"]),
        (["sh", "-c", "echo --json -e"], ["sh", "-c", "echo --json -e"], []),
        (["-l", "x", "--", "ls", "-la"], ["ls", "-la"], ["x"]),
    ],
)
def test_submit_gives_every_word_from_the_command_on_to_the_command(logged_in, words, args, labels):
    info = _spec(logged_in, "-t", "nowhere", *words)
    assert info["spec"]["args"] == args
    assert info["labels"] == labels


def test_submit_env_values_may_hold_commas(logged_in):
    info = _spec(
        logged_in, "-t", "nowhere", "-e", "CUDA_VISIBLE_DEVICES=0,1", "-e", "A=1,B=x,y", "--", "true"
    )
    assert info["spec"]["envs"] == {"CUDA_VISIBLE_DEVICES": "0,1", "A": "1", "B": "x,y"}


def test_submit_refuses_an_unknown_option_before_the_command(logged_in):
    result = logged_in("tasks", "submit", "--no-such-option", "ls", ok=False)
    assert result.exit_code == 2 and "No such option" in result.output


def test_wait_help_states_the_real_exit_codes(mito):
    text = mito("tasks", "wait", "--help").output
    assert "128+N" in text and "SIGTERM: 143" in text and "124" in text


def test_wait_timeout_exits_124_and_says_the_state(logged_in):
    uuid = json.loads(logged_in("--json", "tasks", "submit", "-t", "nowhere", "true").stdout)["uuid"]
    result = logged_in("tasks", "wait", uuid, "--timeout", "1s", "--interval", "100ms", ok=False)
    assert result.exit_code == 124 and f"task {uuid} is still Ready after 1s" in result.output


def test_cancel_of_a_running_task_says_that_cancellation_was_requested(logged_in, admin):
    uuid = json.loads(logged_in("--json", "tasks", "submit", "-t", "gpu", "sleep", "60").stdout)["uuid"]
    worker = admin.register_worker(tags=["gpu"], groups=[ADMIN_USER])
    assert admin.worker_fetch_task(worker["token"])["uuid"] == uuid
    said = logged_in("tasks", "cancel", uuid).output
    assert f"Cancellation of {uuid} requested" in said and "Cancelled" not in said
    assert json.loads(logged_in("tasks", "cancel", uuid, "--json").output) == {
        "ok": True,
        "uuid": uuid,
        "cancel_requested": True,
    }
    assert json.loads(logged_in("tasks", "get", uuid, "--json").output)["info"]["state"] == "Running"
    assert admin.worker_heartbeat(worker["token"]) == [uuid]


def test_cancel_of_a_waiting_task_says_it_is_cancelled(logged_in):
    uuid = json.loads(logged_in("--json", "tasks", "submit", "-t", "nowhere", "true").stdout)["uuid"]
    assert logged_in("tasks", "cancel", uuid).output.strip() == f"Cancelled {uuid}"
    assert json.loads(logged_in("tasks", "get", uuid, "--json").output)["info"]["state"] == "Cancelled"


def test_wait_and_query_say_why_a_task_failed_with_the_agents_detail(logged_in, admin):
    uuid = json.loads(logged_in("--json", "tasks", "submit", "-t", "gpu", "true").stdout)["uuid"]
    worker = admin.register_worker(tags=["gpu"], groups=[ADMIN_USER])
    task_id = admin.worker_fetch_task(worker["token"])["id"]
    detail = "attachment 'inputs/data.csv' not found"
    admin.worker_report_task(worker["token"], task_id, "Cancel")
    admin.worker_report_task(
        worker["token"], task_id, {"Commit": {"exit_status": 0, "msg": "ResourceNotFound", "detail": detail}}
    )
    waited = logged_in("tasks", "wait", uuid, ok=False)
    assert waited.exit_code == 1
    assert waited.output.strip() == f"{uuid} Cancelled exit_status=0 (ResourceNotFound: {detail})"
    assert f"ResourceNotFound: {detail}" in logged_in("tasks", "query").output


def test_query_pages_on_with_the_cursor_it_prints(logged_in):
    uuids = [
        json.loads(logged_in("--json", "tasks", "submit", "-t", "nowhere", "true").stdout)["uuid"]
        for _ in "abc"
    ]
    first = logged_in("tasks", "query", "--limit", "2").stdout
    assert uuids[2] in first and uuids[1] in first and uuids[0] not in first
    cursor = first.rsplit("more: add --cursor ", 1)[1].split()[0]
    second = logged_in("tasks", "query", "--limit", "2", "--cursor", cursor).stdout
    assert uuids[0] in second and uuids[1] not in second and "more:" not in second
    paged = json.loads(logged_in("--json", "tasks", "query", "--limit", "2").stdout)
    assert [t["uuid"] for t in paged["tasks"]] == uuids[:0:-1] and paged["next_cursor"]
