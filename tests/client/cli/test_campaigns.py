"""`mito tasks submit --sweep ...` and `mito campaigns ...` through click's runner against a real coordinator
(tests/client/conftest.py); no agent runs here (tests/integration/test_campaigns.py runs them)."""

from __future__ import annotations

import csv
import json

import pytest

from tests.conftest import ADMIN_PASSWORD, ADMIN_USER

IPERF = ["iperf3", "-c", "host", "-b", "{rate}M", "-n", "{size}"]


@pytest.fixture
def logged_in(mito):
    mito("login", ADMIN_USER, ADMIN_PASSWORD)
    return mito


def _task_count(admin) -> int:
    return admin.query_tasks(group_name=ADMIN_USER, count=True)["count"]


def test_submit_with_sweeps_makes_one_campaign_and_prints_its_name(logged_in, admin):
    result = logged_in(
        "tasks", "submit", "-t", "nowhere", "--sweep", "rate=10,20,50", "--sweep", "size=1k,1M",
        "--repeat", "2", "-e", "SIZE={size}", "--", *IPERF,
    )  # fmt: skip
    name = result.output.strip()
    assert name.startswith("iperf3-")
    campaign = admin.get_campaign(ADMIN_USER, name)
    assert campaign["task_count"] == 12 and campaign["parameters"][0] == {
        "name": "rate",
        "values": ["10", "20", "50"],
    }
    tasks = admin.query_tasks(group_name=ADMIN_USER)["tasks"]
    assert len(tasks) == 12
    last = tasks[0]
    assert last["spec"]["args"] == ["iperf3", "-c", "host", "-b", "50M", "-n", "1M"]
    assert last["spec"]["envs"] == {"SIZE": "1M"} and last["labels"] == ["rate=50", "size=1M"]
    assert last["campaign"] == {"name": name, "params": {"rate": "50", "size": "1M"}, "repeat": 2}


def test_a_sweep_file_gives_one_point_per_row(logged_in, admin, tmp_path):
    grid = tmp_path / "grid.csv"
    grid.write_text("host,port\na.example, 80\nb.example,8080\n\n")
    logged_in("tasks", "submit", "-t", "nowhere", "--campaign", "ping", "--sweep-file", str(grid),
              "--sweep", "count=1,3", "--", "ping", "-c", "{count}", "{host}:{port}")  # fmt: skip
    tasks = admin.iter_campaign_tasks(ADMIN_USER, "ping")
    assert [(t["params"]["host"], t["params"]["port"], t["params"]["count"]) for t in tasks] == [
        ("a.example", "80", "1"), ("a.example", "80", "3"),
        ("b.example", "8080", "1"), ("b.example", "8080", "3"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--sweep", "rate="], "rate has an empty value list"),
        (["--sweep", "rate"], "expected --sweep NAME=VALUE1,VALUE2"),
        (["--sweep", "rate=1,,2"], "an empty value"),
        (["--sweep", "1x=1"], "'1x' is not a parameter name"),
        (["--sweep", "repeat=1,2"], "'repeat' is reserved"),
        (["--sweep", "a=1", "--sweep", "a=2"], "a is given twice"),
        (["--sweep", "a=" + ",".join(map(str, range(400))), "--sweep", "b=" + ",".join(map(str, range(300)))],
         "over the limit of 100,000 tasks per campaign"),
        (["--repeat", "0"], "--repeat"),
        (["--campaign", "no spaces"], "a campaign name is"),
    ],
)  # fmt: skip
def test_bad_sweep_options_are_usage_errors_and_submit_nothing(logged_in, admin, options, says):
    result = logged_in("tasks", "submit", *options, "--", "echo", "{a}", ok=False)
    assert result.exit_code == 2 and says in result.output, result.output
    assert _task_count(admin) == 0


@pytest.mark.parametrize(
    ("content", "says"),
    [("", "is empty"), ("host\n", "has no rows"), ("host,port\na\n", "has 1 values for 2 parameters"),
     ("host,host\na,b\n", "named twice")],
)  # fmt: skip
def test_a_bad_sweep_file_is_a_usage_error(logged_in, admin, tmp_path, content, says):
    grid = tmp_path / "grid.csv"
    grid.write_text(content)
    result = logged_in("tasks", "submit", "--sweep-file", str(grid), "--", "true", ok=False)
    assert result.exit_code == 2 and says in result.output, result.output
    assert _task_count(admin) == 0


def test_an_unknown_placeholder_is_refused_by_the_coordinator_and_nothing_is_submitted(logged_in, admin):
    result = logged_in("tasks", "submit", "--sweep", "rate=1,2", "--", "run", "{rtae}", ok=False)
    assert result.exit_code == 1 and "Unknown placeholder {rtae}" in result.output
    assert _task_count(admin) == 0


def test_list_get_status_and_cancel(logged_in):
    logged_in(
        "tasks", "submit", "-t", "nowhere", "--campaign", "s1", "--sweep", "n=1,2,3", "--", "echo", "{n}"
    )
    listed = json.loads(logged_in("campaigns", "list", "--json").output)
    assert [c["name"] for c in listed["campaigns"]] == ["s1"]
    assert "s1" in logged_in("campaigns", "list").output
    got = logged_in("campaigns", "get", "s1").output
    assert "echo {n}" in got and "1,2,3" in got
    status = logged_in("campaigns", "status", "s1").output
    assert "0 of 3 tasks done" in status and "Ready" in status
    assert "Cancelled 3 task(s) of s1" in logged_in("campaigns", "cancel", "s1").output
    final = json.loads(logged_in("campaigns", "status", "s1", "--follow", "--json", ok=False).output)
    assert final["done"] and final["outcomes"] == {"succeeded": 0, "failed": 0, "cancelled": 3}


def test_status_follow_exits_1_unless_every_task_succeeded(logged_in):
    logged_in("tasks", "submit", "-t", "nowhere", "--campaign", "s1", "--sweep", "n=1", "--", "echo", "{n}")
    logged_in("campaigns", "cancel", "s1")
    assert logged_in("campaigns", "status", "s1", "--follow", ok=False).exit_code == 1


def test_an_unknown_campaign_says_so(logged_in):
    result = logged_in("campaigns", "status", "nope", ok=False)
    assert result.exit_code == 1 and "Campaign nope not found" in result.output


def test_collect_before_any_result_lists_every_task(logged_in, tmp_path):
    logged_in("tasks", "submit", "-t", "nowhere", "--campaign", "s1", "--sweep", "n=1,2", "--", "echo", "{n}")
    out = tmp_path / "results.csv"
    result = logged_in("campaigns", "collect", "s1", "-o", str(out))
    assert "2 rows (0 results fetched" in result.output
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["n"], r["state"], r["outcome"]) for r in rows] == [("1", "Ready", ""), ("2", "Ready", "")]
    assert list(rows[0])[:4] == ["task_uuid", "task_id", "repeat", "n"]
