"""Acceptance: `mito standalone` comes up, runs the README's worked example, stops cleanly, keeps its data."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port, wait_for_http

pytestmark = pytest.mark.integration
BIN = Path(sys.executable).parent


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(
        r"<!-- readme-example:begin -->\s*```sh\n(.*?)```\s*<!-- readme-example:end -->", text, re.S
    )
    assert block, "README.md lost its worked example markers"
    return block.group(1)


def client_env(url: str, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MITO_")}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        MITO_COORDINATOR_ADDR=url,
        MITO_CONFIG_DIR=str(home / "config"),
    )
    return env


class Standalone:
    def __init__(self, data_dir: Path, log: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir, self.log = data_dir, log
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Standalone:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MITO_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mito", "standalone", "--data-dir", str(self.data_dir),
             "--bind", f"127.0.0.1:{self.port}", "--workers", "1"],
            env=env, cwd=ROOT, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for_http(self.url + "/health", timeout=60, proc=self.proc)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def logs(self) -> str:
        """The tails of the coordinator and agent logs, for failure messages."""
        parts = []
        for path in sorted((self.data_dir / "logs").glob("*.log")):
            parts.append(
                f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-40:])
            )
        return "\n".join(parts)

    def interrupt(self) -> int:
        """Ctrl-C: SIGINT, then the exit code."""
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=90)


def test_readme_example_on_standalone_then_clean_stop_and_restart_keeps_data(tmp_path):
    data_dir, work = tmp_path / "data", tmp_path / "work"
    work.mkdir()
    log = tmp_path / "standalone.log"
    with Standalone(data_dir, log) as sa:
        env = client_env(sa.url, tmp_path)
        script = "set -euo pipefail\n" + readme_example() + 'echo "UUID=$UUID"\n'
        run = subprocess.run(
            ["bash", "-c", script], env=env, cwd=work, capture_output=True, text=True, timeout=180
        )
        assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n{log.read_text()}\n{sa.logs()}"
        lines = run.stdout.strip().splitlines()
        assert lines[-2] == "hi"
        uuid = lines[-1].removeprefix("UUID=")
        assert sa.interrupt() == 0, log.read_text()
    output = log.read_text()
    assert "Mitosis standalone is running at" in output and "mitosis_admin" in output
    assert output.rstrip().endswith("Stopped."), output

    with Standalone(data_dir, log) as sa:
        env = client_env(sa.url, tmp_path)

        def mito(*args: str) -> dict:
            proc = subprocess.run(
                ["mito", *args, "--json"], env=env, cwd=work, capture_output=True, text=True
            )
            assert proc.returncode == 0, proc.stderr
            return json.loads(proc.stdout)

        task = mito("tasks", "get", uuid)
        assert task["info"]["state"] == "Finished" and task["info"]["result"]["exit_status"] == 0
        got = mito("tasks", "artifacts", "download", uuid, "std-log", "-o", "again.tar.gz", "-x", "again")
        assert got["size"] > 0
        assert (work / "again" / "std-log" / "stdout.log").read_text() == "hi\n"
        assert sa.interrupt() == 0, log.read_text()
