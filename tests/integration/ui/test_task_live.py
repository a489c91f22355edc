"""The task page in a real browser: a running task's live output, and why a waiting task is not running."""

from __future__ import annotations

import pytest

from tests.integration.ui.conftest import login

pytestmark = pytest.mark.integration

CAROL = ("carol", "carol-pw")


def test_a_running_tasks_page_shows_its_live_output(new_page, make_user, start_agent, screens):
    sdk = make_user(*CAROL)
    start_agent(*CAROL, sdk)
    uuid = sdk.submit_task(
        group_name="carol", args=["sh", "-c", "echo hello-live; echo to-stderr >&2; sleep 60"]
    )
    page = new_page()
    login(page, *CAROL)
    page.goto(page.url.split("#")[0] + f"#/task/{uuid['uuid']}")
    page.wait_for_selector("#live-output >> text=hello-live", timeout=30_000)
    page.wait_for_selector("#live-output >> text=to-stderr")
    page.wait_for_selector("#explain-verdict >> text=it is running on worker")
    screens.shot(page, "task-live-output")
    sdk.cancel_task(uuid["uuid"])


def test_a_waiting_tasks_page_says_which_tag_no_worker_carries(new_page, make_user, start_agent, screens):
    sdk = make_user(*CAROL)
    start_agent(*CAROL, sdk)
    uuid = sdk.submit_task(group_name="carol", args=["true"], tags=["gpu"])["uuid"]
    page = new_page()
    login(page, *CAROL)
    page.goto(page.url.split("#")[0] + f"#/task/{uuid}")
    page.wait_for_selector("#explain-verdict >> text=the closest lack: gpu")
    assert page.locator("#explain-missing").inner_text() == "gpu"
    assert page.locator("#live-output").inner_text() == "(nothing written yet)"
    screens.shot(page, "task-explain")
