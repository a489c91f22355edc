"""The client CLI in-process (click's CliRunner) against a real coordinator over HTTP."""

from __future__ import annotations

import json
import stat

import pytest

from client import credentials
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.helpers import free_port


def test_login_caches_a_private_token_and_whoami_answers(mito):
    out = mito("login", ADMIN_USER, ADMIN_PASSWORD, "--json")
    assert json.loads(out.output) == {"ok": True, "username": ADMIN_USER}
    path = credentials.credentials_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(mito("whoami", "--json").output)["username"] == ADMIN_USER


def test_login_prompts_for_what_is_missing(mito):
    mito("login", input=f"{ADMIN_USER}\n{ADMIN_PASSWORD}\n")
    assert credentials.find().username == ADMIN_USER


def test_the_cached_coordinator_is_used_without_the_flag(mito):
    mito("login", ADMIN_USER, ADMIN_PASSWORD)
    assert mito("whoami", coordinator=None).output.strip() == ADMIN_USER


def test_several_users_first_is_default_and_user_selects(mito, admin):
    admin.admin_create_user("bob", "bob-pw")
    mito("login", ADMIN_USER, ADMIN_PASSWORD)
    mito("login", "bob", "bob-pw")
    assert [c.username for c in credentials.load()] == [ADMIN_USER, "bob"]
    assert mito("whoami").output.strip() == ADMIN_USER
    assert mito("--user", "bob", "whoami").output.strip() == "bob"
    mito("logout", "bob")
    assert [c.username for c in credentials.load()] == [ADMIN_USER]


def test_wrong_password_fails_with_the_status_and_nothing_cached(mito):
    result = mito("login", ADMIN_USER, "wrong", ok=False)
    assert result.exit_code == 1
    assert "401" in result.output
    assert credentials.load() == []


def test_commands_before_login_say_to_log_in(mito):
    result = mito("users", "groups", ok=False)
    assert result.exit_code == 1
    assert "run `mito login`" in result.output


def test_a_stale_token_says_to_log_in_again(mito, monkeypatch):
    credentials.save(credentials.Credential(ADMIN_USER, "not-a-token", "http://unused"))
    result = mito("users", "groups", ok=False)
    assert "401" in result.output and "run `mito login`" in result.output


def test_an_unreachable_coordinator_says_where_to_point(mito):
    result = mito("health", coordinator=f"http://127.0.0.1:{free_port()}", ok=False)
    assert result.exit_code == 1
    assert "MITO_COORDINATOR_ADDR" in result.output


def test_coordinator_from_the_environment(mito, server, monkeypatch):
    monkeypatch.setenv("MITO_COORDINATOR_ADDR", server.url)
    assert json.loads(mito("health", "--json", coordinator=None).output) == {"status": "ok"}


def test_groups_and_users_with_json_and_tables(mito):
    mito("login", ADMIN_USER, ADMIN_PASSWORD)
    assert json.loads(mito("groups", "create", "lab", "--json").output) == {"ok": True, "group_name": "lab"}
    group = json.loads(mito("--json", "groups", "get", "lab").output)
    assert group["group_name"] == "lab" and group["users_in_group"] == {ADMIN_USER: "Admin"}
    table = mito("users", "groups").output
    assert "lab" in table and "Admin" in table
    assert json.loads(mito("users", "groups", "--json").output)["lab"] == "Admin"


def test_group_membership_commands(mito, admin):
    admin.admin_create_user("bob", "pw")
    mito("login", ADMIN_USER, ADMIN_PASSWORD)
    mito("groups", "create", "lab")
    mito("groups", "update-user", "lab", "bob:write")
    assert json.loads(mito("groups", "get", "lab", "--json").output)["users_in_group"]["bob"] == "Write"
    mito("groups", "remove-user", "lab", "bob")
    assert "bob" not in json.loads(mito("groups", "get", "lab", "--json").output)["users_in_group"]


def test_a_bad_role_is_a_usage_error(mito):
    mito("login", ADMIN_USER, ADMIN_PASSWORD)
    result = mito("groups", "update-user", "lab", "bob:owner", ok=False)
    assert result.exit_code == 2 and "unknown role" in result.output


def test_admin_user_commands(mito, server):
    mito("login", ADMIN_USER, ADMIN_PASSWORD)
    mito("admin", "users", "create", "dave", "pw")
    mito("admin", "users", "change-password", "dave", "pw2")
    assert (
        json.loads(mito("admin", "users", "group-quota", "dave", "+1", "--json").output)["group_quota"] >= 1
    )
    assert json.loads(mito("admin", "users", "state", "dave", "locked", "--json").output) == {
        "state": "Locked"
    }
    quota = json.loads(mito("admin", "groups", "storage-quota", "dave", "2GB", "--json").output)
    assert quota == {"storage_quota": 2 * 10**9}
    assert "Deleted" in mito("admin", "users", "delete", "dave").output


def test_non_admins_are_refused_admin_commands_with_a_hint(mito, admin):
    admin.admin_create_user("eve", "pw")
    mito("login", "eve", "pw")
    result = mito("admin", "users", "create", "mallory", "pw", ok=False)
    assert "403" in result.output and "Hint" in result.output


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["-e", "NOEQUALS"], "KEY=VALUE"),
        (["-r", "attachment=only-key"], "attachment=KEY:LOCAL_PATH"),
        (["--watch", "uuid-only"], "UUID,STATE"),
        (["--timeout", "ten minutes"], "invalid duration"),
    ],
)
def test_bad_submit_options_are_usage_errors(mito, args, text):
    mito("login", ADMIN_USER, ADMIN_PASSWORD)
    result = mito("tasks", "submit", *args, "--", "true", ok=False)
    assert result.exit_code == 2 and text in result.output, result.output


def test_task_commands_without_an_agent(mito):
    mito("login", ADMIN_USER, ADMIN_PASSWORD)
    ids = [
        json.loads(
            mito("--json", "tasks", "submit", "-t", "nowhere", "-l", "batch", "--", "echo", str(i)).stdout
        )["uuid"]
        for i in range(4)
    ]
    table = mito("tasks", "query", "-l", "batch", "-v").output
    assert "Ready" in table and "echo" in table
    mito("tasks", "change", ids[0], "-p", "5", "--timeout", "1h", "--", "echo", "changed")
    mito("tasks", "update-labels", ids[0], "batch,first")
    info = json.loads(mito("tasks", "get", ids[0], "--json").output)["info"]
    assert (info["priority"], info["timeout"], info["spec"]["args"]) == (5, 3600, ["echo", "changed"])
    assert sorted(info["labels"]) == ["batch", "first"]
    assert json.loads(mito("tasks", "cancel", ids[0], "--json").output)["ok"] is True
    assert json.loads(mito("tasks", "cancel-list", ids[1], "--json").output)["cancelled_count"] == 1
    assert (
        json.loads(mito("tasks", "cancel-many", "-l", "batch", "-s", "ready", "--json").output)[
            "cancelled_count"
        ]
        == 2
    )
    counted = json.loads(mito("tasks", "query", "-l", "batch", "-s", "Cancelled", "--count", "--json").output)
    assert counted["count"] == 4


def test_worker_commands(mito):
    mito("login", ADMIN_USER, ADMIN_PASSWORD)
    mito("groups", "create", "lab")
    ids = [
        json.loads(mito("workers", "register", "-t", "cpu", "--json").output)["worker_id"] for _ in range(4)
    ]
    assert ids[0] in mito("workers", "query", "-v").output
    mito("workers", "update-tags", ids[0], "gpu,cuda")
    mito("workers", "update-labels", ids[0], "rack1")
    mito("workers", "update-roles", ids[0], "lab:write")
    got = json.loads(mito("workers", "get", ids[0], "--json").output)
    assert sorted(got["info"]["tags"]) == ["cuda", "gpu"] and got["groups"]["lab"] == "Write"
    mito("workers", "remove-roles", ids[0], "lab")
    assert "lab" not in json.loads(mito("workers", "get", ids[0], "--json").output)["groups"]
    mito("workers", "cancel", ids[0], "--force")
    assert json.loads(mito("workers", "cancel-list", ids[1], "-f", "--json").output)["shutdown_count"] == 1
    mito("admin", "workers", "shutdown", ids[2], "--force")
    assert (
        json.loads(mito("workers", "cancel-many", "-t", "cpu", "-f", "--json").output)["shutdown_count"] == 1
    )
    assert json.loads(mito("workers", "query", "--count", "--json").output)["count"] == 0
