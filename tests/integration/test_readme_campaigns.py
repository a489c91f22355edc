"""The README's campaign example as a new user runs it: on a fresh standalone, in an empty directory, with
the `mito` command; it ends with the merged CSV, and what it leaves behind is git-ignored here."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.integration.standalone import Standalone, standalone_env
from tests.integration.test_readme import example

pytestmark = [pytest.mark.integration, pytest.mark.backend_independent]


def test_the_campaign_example_ends_with_the_merged_csv(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    with Standalone(tmp_path, "--polling-interval", "0.2s") as sa:
        env = standalone_env(
            PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            MITO_COORDINATOR_ADDR=sa.url,
            MITO_CONFIG_DIR=str(tmp_path / "config"),
        )
        script = "set -euo pipefail\nmito login mitosis_admin mitosis_admin\n" + example("readme-campaign")
        run = subprocess.run(
            ["bash", "-c", script], env=env, cwd=work, capture_output=True, text=True, timeout=300
        )
        assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n{sa.logs()}"
    assert run.stdout.splitlines()[1] == "demo"
    with (work / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12
    assert list(rows[0]) == [
        "task_uuid", "task_id", "repeat", "rate", "size", "state", "outcome", "exit_status", "msg",
        "worker_uuid", "mbps", "result.size", "run.n",
    ]  # fmt: skip
    assert {(r["rate"], r["size"], r["repeat"]) for r in rows} == {
        (rate, size, n) for rate in ("10", "20", "50") for size in ("1k", "1M") for n in ("1", "2")
    }
    assert all(
        r["outcome"] == "succeeded" and r["mbps"] == r["rate"] and r["run.n"] == r["repeat"] for r in rows
    )
    for name in sorted(p.name + ("/" if p.is_dir() else "") for p in work.iterdir()):
        ignored = subprocess.run(["git", "check-ignore", "-q", "--no-index", name], cwd=ROOT)
        assert ignored.returncode == 0, f"{name} (left by the README's campaign example) is not git-ignored"
