"""The package as users install it: a wheel built from the tree, installed into a fresh virtual environment
outside it, runs `mito db upgrade` and `mito standalone` from empty directories (issue 10, items 1-2).

Lean on purpose: the wheel is built with pip's cache; the new venv has no pip (`--without-pip`) and gets the
wheel with `pip --python` and `--no-deps`; its dependencies come from the test environment through a `.pth`
line naming that site-packages (plain path lines add a directory; the editable install's import hook there
is never run). So the code under test is the wheel's, and nothing is downloaded but the build backend.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from client.sdk import Mitosis
from tests.helpers import ROOT
from tests.integration.standalone import Standalone, standalone_env

pytestmark = [pytest.mark.integration, pytest.mark.backend_independent]
NOT_SHIPPED = (
    ".git",
    ".venv",
    ".ci-venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "mito-data",
    "tests",
)


def run(*args, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=300, **kw)
    assert proc.returncode == 0, f"{args}\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel of this tree installed; returns its bin directory."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"  # a clean copy: setuptools' build/ in the tree could leak stale files into the wheel
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*NOT_SHIPPED))
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(src), "-w", str(tmp / "dist"))
    [wheel] = (tmp / "dist").glob("mitosis-*.whl")
    venv = tmp / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    site = Path(
        run(
            str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        ).stdout.strip()
    )
    (site / "mito_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(venv / "bin" / "python"),
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        str(wheel),
    )
    return venv / "bin"


def test_the_installed_code_is_the_wheel_not_the_tree(installed, tmp_path):
    where = run(str(installed / "python"), "-c", "import app; print(app.__file__)", cwd=tmp_path)
    assert where.stdout.startswith(str(installed.parent)), where.stdout
    assert (Path(where.stdout.strip()).parent / "migrations" / "versions").is_dir()


def test_db_upgrade_from_an_empty_directory(installed, tmp_path):
    run(str(installed / "mito"), "db", "upgrade", cwd=tmp_path, env=standalone_env())
    assert (tmp_path / "mito-data" / "mitosis.db").is_file()


def test_standalone_from_an_empty_directory_runs_a_task_to_finished(installed, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with Standalone(tmp_path, "--polling-interval", "0.2s", mito=[str(installed / "mito")], cwd=empty) as sa:
        sdk = Mitosis(sa.url)
        sdk.login("mitosis_admin", "mitosis_admin", retain=True)
        task = sdk.submit_task(group_name="mitosis_admin", args=["echo", "from the wheel"], timeout="1m")
        info = sdk.wait_task(task["uuid"], timeout=60, interval=0.3)
        assert info["state"] == "Finished" and info["result"]["exit_status"] == 0, sa.logs()
        assert (empty / "mito-data" / "mitosis.db").is_file()
        assert sa.stop() == 0, sa.logs()
