"""Fixtures for client tests: the coordinator app served over real HTTP from a thread, SDK clients, and the
CLI run in-process by click's CliRunner against it."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from client.sdk import Mitosis
from mito.main import cli
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.helpers import free_port


@pytest.fixture(scope="session")
def http_coordinator(app_config):
    """The coordinator app on a real HTTP server thread (werkzeug, threaded) over the test database."""
    from app import create_app

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    application = create_app({**app_config, "PUBLIC_URL": url})
    server = make_server("127.0.0.1", port, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="http-coordinator", daemon=True)
    thread.start()
    yield SimpleNamespace(url=url, app=application)
    server.shutdown()
    thread.join(10)


@pytest.fixture
def server(http_coordinator, app):
    """The HTTP coordinator, with the per-test table cleaning (it needs the `app` fixture)."""
    return http_coordinator


@pytest.fixture
def anon(server):
    with Mitosis(server.url) as sdk:
        yield sdk


@pytest.fixture
def admin(server):
    with Mitosis(server.url) as sdk:
        sdk.login(ADMIN_USER, ADMIN_PASSWORD)
        yield sdk


@pytest.fixture
def make_user(server, admin):
    """make_user(name, password="password") -> a logged-in SDK for a new user."""
    made = []

    def make(name: str, password: str = "password") -> Mitosis:
        admin.admin_create_user(name, password)
        sdk = Mitosis(server.url)
        sdk.login(name, password)
        made.append(sdk)
        return sdk

    yield make
    for sdk in made:
        sdk.close()


@pytest.fixture
def mito(server, tmp_path, monkeypatch):
    """mito(*args, ok=True) -> Result; the coordinator is the test server, the config dir is private."""
    monkeypatch.setenv("MITO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.delenv("MITO_COORDINATOR_ADDR", raising=False)
    runner = CliRunner()

    def run(*args: str, ok: bool = True, coordinator: str | None = server.url, input: str | None = None):
        prefix = ["--coordinator", coordinator] if coordinator else []
        result = runner.invoke(cli, [*prefix, *args], input=input, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run
