"""client/collect.py (unit): flattening, merging rows and columns, fetching once, resuming after a failure.
The SDK is replaced by a fake that serves result tarballs from local files; the live path is covered by
tests/integration/test_campaigns.py."""

from __future__ import annotations

import csv
import json
import shutil
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest

from client import collect
from client.collect import CollectError, flatten


def test_flatten_joins_nested_keys_with_dots_and_keeps_lists_as_json():
    assert flatten({"a": 1, "b": {"c": 2.5, "d": {"e": "x"}}, "l": [1, {"k": 2}], "n": None}) == {
        "a": 1, "b.c": 2.5, "b.d.e": "x", "l": '[1, {"k": 2}]', "n": None,
    }  # fmt: skip


def test_a_result_that_is_not_an_object_is_one_column():
    assert flatten(42) == {"result": 42}


class FakeCampaign:
    """A campaign of tasks, each with a result.json served as the agent packs it (result/result.json)."""

    def __init__(self, tmp: Path, results: dict[str, Any], params: dict[str, dict[str, str]]):
        self.store = tmp / "store"
        self.store.mkdir()
        self.tasks = []
        self.fetches: list[str] = []
        self.fail: set[str] = set()
        self.lock = threading.Lock()
        for n, (uuid, value) in enumerate(results.items(), start=1):
            self.put(uuid, value)
            self.tasks.append({
                "uuid": uuid, "task_id": n, "repeat": 1, "params": params[uuid], "state": "Finished",
                "outcome": "succeeded", "exit_status": 0, "msg": None, "worker_uuid": "w",
                "updated_at": "t1", "result_size": 10,
            })  # fmt: skip

    def put(self, uuid: str, value: Any) -> None:
        source = self.store / uuid / "result"
        shutil.rmtree(source.parent, ignore_errors=True)
        source.mkdir(parents=True)
        (source / "result.json").write_text(json.dumps(value))
        (source / "plot.txt").write_text("kept")
        with tarfile.open(self.store / f"{uuid}.tar.gz", "w:gz") as tar:
            tar.add(source, arcname="result")

    def get_campaign(self, group_name: str, name: str) -> dict[str, Any]:
        return {"parameter_names": list(self.tasks[0]["params"])}

    def iter_campaign_tasks(self, group_name: str, name: str):
        yield from self.tasks

    def download_artifact(self, uuid: str, content_type: str) -> dict[str, Any]:
        assert content_type == "result"
        if uuid in self.fail:
            raise OSError("store unreachable")
        return {"url": str(self.store / f"{uuid}.tar.gz"), "size": 10}

    def fetch_bytes(self, url: str, dest: Path | str, *, size: int | None = None, progress=None) -> int:
        with self.lock:
            self.fetches.append(Path(url).name.removesuffix(".tar.gz"))
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(url, dest)
        return Path(dest).stat().st_size


@pytest.fixture
def fake(tmp_path):
    results = {"u1": {"bw": 9.5, "lat": {"p50": 1}}, "u2": {"bw": 7.0, "state": "warm"}, "u3": {"bw": 1.0}}
    params = {"u1": {"rate": "10"}, "u2": {"rate": "20"}, "u3": {"rate": "50"}}
    return FakeCampaign(tmp_path, results, params)


def test_collect_merges_one_row_per_task_with_parameters_and_result_columns(fake, tmp_path):
    got = collect.collect(fake, "g", "c", tmp_path / "res", jobs=3)
    assert got.columns == [
        "task_uuid", "task_id", "repeat", "rate", "state", "outcome", "exit_status", "msg", "worker_uuid",
        "bw", "lat.p50", "result.state",
    ]  # fmt: skip
    assert [(r["rate"], r["bw"]) for r in got.rows] == [("10", 9.5), ("20", 7.0), ("50", 1.0)]
    assert (
        got.rows[0]["lat.p50"] == 1
        and got.rows[1]["result.state"] == "warm"
        and got.rows[1]["state"] == "Finished"
    )
    assert (got.fetched, got.reused, got.without_result) == (3, 0, [])
    assert (tmp_path / "res" / "u1" / "result" / "plot.txt").read_text() == "kept"


def test_a_second_collect_fetches_nothing_already_fetched(fake, tmp_path):
    collect.collect(fake, "g", "c", tmp_path / "res")
    fake.fetches.clear()
    again = collect.collect(fake, "g", "c", tmp_path / "res")
    assert fake.fetches == [] and (again.fetched, again.reused) == (0, 3)
    assert [r["bw"] for r in again.rows] == [9.5, 7.0, 1.0]


def test_a_task_re_run_since_is_fetched_again(fake, tmp_path):
    collect.collect(fake, "g", "c", tmp_path / "res")
    fake.fetches.clear()
    fake.put("u2", {"bw": 8.0})
    fake.tasks[1]["updated_at"] = "t2"  # committed again: a new result
    again = collect.collect(fake, "g", "c", tmp_path / "res")
    assert fake.fetches == ["u2"] and again.rows[1]["bw"] == 8.0 and "result.state" not in again.columns


def test_a_failed_download_fails_the_run_and_the_next_run_fetches_only_it(fake, tmp_path):
    fake.fail = {"u3"}
    with pytest.raises(CollectError, match="1 of 3 results could not be fetched.*u3: store unreachable"):
        collect.collect(fake, "g", "c", tmp_path / "res")
    fake.fail, fake.fetches = set(), []
    done = collect.collect(fake, "g", "c", tmp_path / "res")
    assert fake.fetches == ["u3"] and (done.fetched, done.reused) == (1, 2)
    assert not (tmp_path / "res" / ".partial").exists()


def test_active_tasks_and_tasks_without_result_get_rows_without_result_columns(fake, tmp_path):
    fake.tasks[0].update(state="Running", outcome=None, exit_status=None, result_size=None)
    fake.tasks[1].update(outcome="failed", exit_status=3, result_size=None)
    got = collect.collect(fake, "g", "c", tmp_path / "res")
    assert fake.fetches == ["u3"]
    assert "bw" not in got.rows[0] and "bw" not in got.rows[1] and got.rows[2]["bw"] == 1.0
    assert got.without_result == ["u2"]


def test_progress_counts_the_results_fetched(fake, tmp_path):
    seen = []
    collect.collect(fake, "g", "c", tmp_path / "res", progress=lambda done, total: seen.append((done, total)))
    assert sorted(seen) == [(1, 3), (2, 3), (3, 3)]


def test_write_csv_writes_every_column_and_leaves_missing_cells_empty(fake, tmp_path):
    got = collect.collect(fake, "g", "c", tmp_path / "res")
    collect.write_csv(got, tmp_path / "out" / "results.csv")
    with (tmp_path / "out" / "results.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == got.columns
    assert (rows[0]["lat.p50"], rows[2]["lat.p50"], rows[2]["bw"]) == ("1", "", "1.0")


def test_as_frame_gives_the_rows_back_without_pandas(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("no pandas here")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    rows = [{"a": 1}]
    assert collect.as_frame(rows, ["a"]) is rows
