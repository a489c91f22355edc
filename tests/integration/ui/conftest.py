"""Browser tests of the dashboard: Playwright for Python driving Debian's Chromium against a real coordinator.

Playwright's own browser download cannot be reached here, so the tests use the system Chromium
(`make test` installs the `chromium` package when it is missing). They run once per `make test`, on the
PostgreSQL pass: the dashboard only talks to the REST API, whose behaviour on both databases the rest of
the suite covers, and a second browser pass would double the slowest tests for no new coverage.
Screenshots of each page go to the test's output directory (and also to MITO_UI_SCREENSHOTS when set).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from client.sdk import Mitosis
from tests.integration.agents import Agent

ADMIN = ("mitosis_admin", "mitosis_admin")
CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
UI_BACKEND = "postgresql"


def pytest_collection_modifyitems(config, items):
    """Keep the browser tests to one backend pass of `make test` (see the module docstring)."""
    if os.environ.get("MITO_TEST_DB", "postgresql") == UI_BACKEND:
        return
    here = Path(__file__).parent
    deselected = [item for item in items if here in Path(str(item.fspath)).parents]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if item not in deselected]


def chromium_path() -> str:
    path = os.environ.get("MITO_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("Chromium is not installed: run `make browser` (apt-get install chromium) as root")
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


class Screens:
    """Full-page screenshots named after the page, in the test's output directory."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.extra = (
            Path(os.environ["MITO_UI_SCREENSHOTS"]) if os.environ.get("MITO_UI_SCREENSHOTS") else None
        )

    def shot(self, page, name: str) -> Path:
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        if self.extra is not None:
            self.extra.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, self.extra / path.name)
        return path


@pytest.fixture
def screens(tmp_path) -> Screens:
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return Screens(folder)


@pytest.fixture
def new_page(browser, live_coordinator):
    """Open pages in fresh browser contexts (own localStorage); page errors fail the test."""
    contexts, errors = [], []

    def open_page(width: int = 1280, height: int = 860):
        context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("dialog", lambda dialog: dialog.accept())
        page.goto(live_coordinator.url + "/ui/")
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def login(page, username: str, password: str) -> None:
    """Log in through the form and wait for the tasks page."""
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.login button[type=submit]")
    page.wait_for_selector("#state-counts .count")


@pytest.fixture
def admin_sdk(live_coordinator):
    sdk = Mitosis(live_coordinator.url)
    sdk.login(*ADMIN, retain=True)
    yield sdk
    sdk.close()


@pytest.fixture
def make_user(live_coordinator, admin_sdk):
    """Create a user; return a logged-in SDK for it (its token retained, so the browser's login adds one)."""
    made = []

    def make(username: str, password: str = "secret-pw") -> Mitosis:
        admin_sdk.admin_create_user(username, password)
        sdk = Mitosis(live_coordinator.url)
        sdk.login(username, password, retain=True)
        made.append(sdk)
        return sdk

    yield make
    for sdk in made:
        sdk.close()


@pytest.fixture
def start_agent(live_coordinator, tmp_path):
    agents = []

    def start(user: str, password: str, sdk: Mitosis) -> Agent:
        folder = tmp_path / f"agent-{len(agents) + 1}"
        folder.mkdir()
        agents.append(Agent(live_coordinator.url, folder, user, password, sdk))
        return agents[-1]

    yield start
    for agent in agents:
        agent.stop()
