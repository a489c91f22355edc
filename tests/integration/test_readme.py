"""The README's examples as a new user runs them: on a fresh standalone, in an empty directory, with the
`mito` command; what they leave behind is git-ignored in this repository (issue 10, item 13)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.integration.standalone import Standalone, standalone_env

pytestmark = [pytest.mark.integration, pytest.mark.backend_independent]


def example(name: str) -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(rf"<!-- {name}:begin -->\s*```sh\n(.*?)```\s*<!-- {name}:end -->", text, re.S)
    assert block, f"README.md lost its {name} markers"
    return block.group(1)


def test_both_examples_run_and_leave_only_ignored_files(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    with Standalone(tmp_path, "--polling-interval", "0.2s") as sa:
        env = standalone_env(
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            MITO_COORDINATOR_ADDR=sa.url,
            MITO_CONFIG_DIR=str(tmp_path / "config"),
        )
        script = "set -euo pipefail\n" + example("readme-example") + example("readme-example-2")
        run = subprocess.run(
            ["bash", "-c", script], env=env, cwd=work, capture_output=True, text=True, timeout=300
        )
        assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n{sa.logs()}"
    assert (work / "out" / "result" / "lines.txt").read_text().split()[0] == "3"
    left = sorted(p.name + ("/" if p.is_dir() else "") for p in work.iterdir())
    assert "data.csv" in left and "out/" in left
    for name in left:
        ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", name], cwd=ROOT)
        assert ignored.returncode == 0, f"{name} (left by the README's examples) is not git-ignored"
