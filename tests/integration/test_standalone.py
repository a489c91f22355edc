"""`mito standalone` heals itself: agents without the admin password, restarted when they exit, their grants
given as options, a busy port refused, and the coordinator's MITO_* settings applied (issue 10, items 5-7)."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from client.sdk import Mitosis
from tests.helpers import free_port
from tests.integration.standalone import Standalone, standalone_env

pytestmark = [pytest.mark.integration, pytest.mark.backend_independent]
ADMIN = "mitosis_admin"


def admin_sdk(url: str, password: str = ADMIN) -> Mitosis:
    sdk = Mitosis(url)
    sdk.login(ADMIN, password, retain=True)
    return sdk


def run_task(sdk: Mitosis, group: str, sa: Standalone, timeout: float = 60) -> dict:
    task = sdk.submit_task(group_name=group, args=["true"], timeout="1m")
    try:
        info = sdk.wait_task(task["uuid"], timeout=timeout, interval=0.3)
    except TimeoutError as exc:
        raise AssertionError(f"task not finished\n{sa.logs()}") from exc
    return info


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    with Standalone(tmp_path_factory.mktemp("standalone"), "--polling-interval", "0.2s") as sa:
        yield sa


def test_busy_port_fails_at_once_and_its_agent_registers_nowhere(running, tmp_path):
    second = Standalone(tmp_path, port=running.port).start(wait=False)
    try:
        code = second.proc.wait(timeout=30)
    finally:
        second.stop()
    assert code != 0
    assert f"cannot listen on 127.0.0.1:{running.port}: address already in use" in second.output()
    workers = admin_sdk(running.url).query_workers(count=True)
    assert workers["count"] == 1, running.logs()


def test_an_agent_that_exits_is_restarted_and_the_console_says_so(running):
    sdk = admin_sdk(running.url)
    assert run_task(sdk, ADMIN, running)["state"] == "Finished"
    [pid] = running.agent_pids()
    os.kill(pid, signal.SIGKILL)
    running.wait_for("agent-1 exited with status -9")
    running.wait_for("restarting agent-1")
    assert run_task(sdk, ADMIN, running)["state"] == "Finished"
    assert running.agent_pids() != [pid]


def test_an_agent_that_cannot_start_is_an_error_on_the_console(tmp_path):
    with Standalone(tmp_path, "--polling-interval", "soon") as sa:
        sa.wait_for("ERROR")
        sa.wait_for("restarting in 2s")  # the second failure: backoff grows
    errors = [line for line in sa.output().splitlines() if "ERROR" in line]
    assert "agent-1 exited with status 2 after" in errors[0] and "soon" in errors[0], sa.output()


def test_unknown_group_in_groups_stops_the_standalone_with_the_reason(tmp_path):
    sa = Standalone(tmp_path, "--groups", "no-such-group").start(wait=False)
    assert sa.proc.wait(timeout=60) == 1
    assert "cannot grant --groups no-such-group to the local agents" in sa.output()
    assert "no-such-group" in sa.output().splitlines()[-1], sa.output()


def test_agents_survive_a_password_change_and_serve_the_groups_given_as_options(tmp_path):
    with Standalone(tmp_path, "--polling-interval", "0.2s") as sa:
        sdk = admin_sdk(sa.url)
        sdk.admin_create_user("bob", "bob-password")
        sdk.change_password(ADMIN, ADMIN, "a-new-password")
        bob = Mitosis(sa.url)
        bob.login("bob", "bob-password", retain=True)
        bob.create_group("lab")
        assert sa.stop() == 0, sa.logs()
    # The README's recipe: one option, the same command at every start.
    with Standalone(tmp_path, "--polling-interval", "0.2s", "--groups", "lab") as sa:
        sdk = admin_sdk(sa.url, "a-new-password")
        assert run_task(sdk, ADMIN, sa)["state"] == "Finished"
        bob = Mitosis(sa.url)
        bob.login("bob", "bob-password", retain=True)
        assert run_task(bob, "lab", sa)["state"] == "Finished"
        assert "a-new-password" not in sa.output() + "".join(
            p.read_text() for p in (sa.data_dir / "agents").glob("*.json")
        )


def test_coordinator_settings_from_the_environment_apply(tmp_path):
    port = free_port()
    env = standalone_env(
        MITO_BIND=f"127.0.0.1:{port}",
        MITO_DB_URL=f"sqlite:///{tmp_path / 'elsewhere.db'}",
        MITO_ADMIN_PASSWORD="from-env",
        MITO_MAX_CONTENT_LENGTH="1000",
    )
    with Standalone(tmp_path, port=port, bind_flag=False, env=env) as sa:
        assert (tmp_path / "elsewhere.db").exists() and not (sa.data_dir / "mitosis.db").exists()
        sdk = admin_sdk(sa.url, "from-env")
        assert run_task(sdk, ADMIN, sa)["state"] == "Finished"
        body = b"{" + b" " * 2000 + b"}"
        big = httpx.post(f"{sa.url}/login", content=body, headers={"Content-Type": "application/json"})
        assert big.status_code == 413, big.text


def test_workers_n_is_one_agent_process_with_n_slots(tmp_path):
    with Standalone(tmp_path, "--workers", "3", "--polling-interval", "0.2s") as sa:
        sdk = admin_sdk(sa.url)
        deadline = time.monotonic() + 60
        while sdk.query_workers(count=True)["count"] < 3:
            assert time.monotonic() < deadline, sa.logs()
            time.sleep(0.2)
        assert len(sa.agent_pids()) == 1
        logs = sorted(p.name for p in (sa.data_dir / "logs").iterdir())
        assert logs == ["agent-1.log", "coordinator.log", "standalone.log"]
        assert "local workers:  3 (slots of one agent)" in sa.output()
