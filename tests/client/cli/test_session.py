"""The CLI's cached login next to other sessions of the same user (the SDK, agents)."""

from __future__ import annotations

from client.sdk import Mitosis
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER


def test_the_readme_sdk_example_login_does_not_log_the_cli_out(mito, server):
    mito("login", ADMIN_USER, ADMIN_PASSWORD)
    with Mitosis(server.url) as sdk:
        sdk.login("mitosis_admin", "mitosis_admin")  # as the README's SDK example logs in
        assert sdk.auth() == ADMIN_USER
    assert mito("whoami").output.strip() == ADMIN_USER


def test_an_sdk_login_without_retain_ends_the_cli_session_and_the_cli_says_why(mito, server):
    mito("login", ADMIN_USER, ADMIN_PASSWORD)
    with Mitosis(server.url) as sdk:
        sdk.login(ADMIN_USER, ADMIN_PASSWORD, retain=False)
        assert sdk.auth() == ADMIN_USER
    result = mito("whoami", ok=False)
    assert result.exit_code == 1
    assert "401" in result.output and "ended by a newer login" in result.output
    assert "run `mito login`" in result.output
