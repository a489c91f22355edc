"""Campaigns end to end: the `mito` CLI in real processes, a real coordinator and two real agents.

A 3x2 sweep repeated twice runs as 12 tasks with their parameters in args, env and labels; the status
counts are checked while the tasks are held running and at the end; `collect` merges the results into a
CSV and fetches nothing twice.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from client.sdk import Mitosis
from tests.conftest import ADMIN_PASSWORD, ADMIN_USER
from tests.helpers import wait_until
from tests.integration.agents import Agent

pytestmark = pytest.mark.integration

TAG = "sweep-it"
# Each task waits at the gate, writes its result.json, and the point rate=50,size=1M fails its first run.
SCRIPT = (
    'while [ ! -e "$GATE" ]; do sleep 0.1; done; '
    'printf \'{"bw": %s, "env_rate": "%s", "size": "%s", "run": {"repeat": %s}}\' '
    '{rate} "$RATE" {size} {repeat} > "$MITO_RESULT_DIR/result.json"; '
    'if [ {rate}-{size}-{repeat} = 50-1M-1 ] && [ ! -e "$GATE.failed" ]; '
    'then touch "$GATE.failed"; exit 3; fi'
)


class Cli:
    """`python -m mito ...` with a private config dir against one coordinator."""

    def __init__(self, url: str, home: Path):
        home.mkdir(parents=True, exist_ok=True)
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("MITO_")}
        self.env.update(MITO_COORDINATOR_ADDR=url, MITO_CONFIG_DIR=str(home / "config"), PYTHONUNBUFFERED="1")

    def run(self, *args: str, code: int = 0, timeout: float = 60) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "mito", *args],
            env=self.env, cwd=self.home, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        assert proc.returncode == code, (
            f"mito {' '.join(args)}: {proc.returncode}\n{proc.stdout}{proc.stderr}"
        )
        return proc.stdout.strip()

    def status(self, name: str) -> dict:
        return json.loads(self.run("campaigns", "status", name, "--json"))


@pytest.fixture
def cli(live_coordinator, tmp_path) -> Cli:
    person = Cli(live_coordinator.url, tmp_path / "home")
    person.run("login", ADMIN_USER, ADMIN_PASSWORD)
    return person


@pytest.fixture
def agents(live_coordinator, tmp_path):
    for n in (1, 2):
        (tmp_path / f"agent{n}").mkdir()
    with Mitosis(live_coordinator.url) as sdk:
        sdk.login(ADMIN_USER, ADMIN_PASSWORD)
        started = [Agent(live_coordinator.url, tmp_path / f"agent{n}", ADMIN_USER, ADMIN_PASSWORD, sdk,
                         MITO_TAGS=TAG) for n in (1, 2)]  # fmt: skip
        yield sdk
        for agent in started:
            agent.stop()


def test_a_sweep_runs_counts_and_collects(cli, agents, tmp_path):
    gate = tmp_path / "go"
    name = cli.run(
        "tasks", "submit", "-t", TAG, "--campaign", "bw", "--sweep", "rate=10,20,50", "--sweep", "size=1k,1M",
        "--repeat", "2", "-e", f"GATE={gate}", "-e", "RATE={rate}", "--", "sh", "-c", SCRIPT,
    )  # fmt: skip
    assert name == "bw"
    tasks = list(agents.iter_campaign_tasks(ADMIN_USER, "bw"))
    assert len(tasks) == 12
    infos = [agents.get_task(t["uuid"])["info"] for t in tasks]
    points = [(r, s) for r in ("10", "20", "50") for s in ("1k", "1M")]
    assert [(i["campaign"]["params"]["rate"], i["campaign"]["params"]["size"], i["campaign"]["repeat"])
            for i in infos] == [(r, s, n) for n in (1, 2) for r, s in points]  # fmt: skip
    last = infos[-1]
    assert last["labels"] == ["rate=50", "size=1M"] and last["spec"]["envs"]["RATE"] == "50"
    assert '\' 50 "$RATE" 1M 2 >' in last["spec"]["args"][2] and "{rate}" not in last["spec"]["args"][2]

    # Two agents each hold one task at the gate: the counts while running.
    held = wait_until(
        lambda: (s := cli.status("bw"))["counts"]["Running"] == 2 and s, what="two running tasks"
    )
    assert held["counts"] == {"Pending": 0, "Ready": 10, "Running": 2, "Finished": 0, "Cancelled": 0}
    assert (held["committed"], held["done"]) == (0, False)

    gate.touch()
    final = json.loads(cli.run("campaigns", "status", "bw", "--follow", "--interval", "300ms", "--json",
                               code=1, timeout=120))  # fmt: skip
    assert final["done"] and final["counts"]["Finished"] == 12
    assert final["outcomes"] == {"succeeded": 11, "failed": 1, "cancelled": 0}
    [failure] = final["failures"]
    assert (failure["params"], failure["repeat"], failure["exit_status"]) == (
        {"rate": "50", "size": "1M"},
        1,
        3,
    )

    out = tmp_path / "results.csv"
    said = cli.run("campaigns", "collect", "bw", "-o", str(out), "--json")
    assert json.loads(said)["fetched"] == 12
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12
    assert list(rows[0])[:4] == ["task_uuid", "task_id", "repeat", "rate"]
    by_point = {(r["rate"], r["size"], r["repeat"]): r for r in rows}
    one = by_point[("20", "1k", "2")]
    assert (one["bw"], one["env_rate"], one["result.size"], one["run.repeat"]) == ("20", "20", "1k", "2")
    assert (one["state"], one["outcome"], one["exit_status"]) == ("Finished", "succeeded", "0")
    workers = {w["worker_id"] for w in agents.query_workers(group_name=ADMIN_USER)["workers"]}
    assert one["worker_uuid"] in workers and len(workers) == 2
    assert by_point[("50", "1M", "1")]["outcome"] == "failed"
    assert (tmp_path / "bw" / one["task_uuid"] / "result" / "result.json").is_file()

    again = json.loads(cli.run("campaigns", "collect", "bw", "-o", str(out), "--json"))
    assert (again["fetched"], again["reused"]) == (0, 12)
    sdk_rows = agents.collect_campaign(ADMIN_USER, "bw", tmp_path / "bw", frame=False)
    assert [(r["task_uuid"], str(r["bw"])) for r in sdk_rows] == [(r["task_uuid"], r["bw"]) for r in rows]
