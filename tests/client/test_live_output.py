"""client.live_output.task_logs over a scripted API: tail, follow, skip markers, the std-log fallback."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from client.http import ApiError
from client.live_output import NoOutputKept, task_logs
from mito.vocab.output import skip_marker


class FakeApi:
    """Answers task_output from a list of pages (by call order); a std-log archive or a 404."""

    def __init__(self, pages, std_log: dict[str, bytes] | None = None):
        self.pages = list(pages)
        self.calls: list[dict] = []
        self.std_log = std_log

    def task_output(self, uuid, *, after=None, wait=0.0, stream=None):
        self.calls.append({"after": after, "wait": wait, "stream": stream})
        return self.pages.pop(0)

    def download_artifact(self, uuid, content_type):
        if self.std_log is None:
            raise ApiError(404, "Artifact not found")
        return {"url": "http://store/std-log", "size": None}

    def fetch_bytes(self, url, dest, *, size=None):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name, data in (self.std_log or {}).items():
                info = tarfile.TarInfo(f"std-log/{name}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        Path(dest).write_bytes(buffer.getvalue())
        return len(buffer.getvalue())


def page(*chunks, running=True, next_="1", state="Running"):
    chunks = [{"stream": "stdout", "skipped": 0, **c} for c in chunks]
    return {"chunks": chunks, "next": next_, "running": running, "state": state}


def test_follow_prints_the_tail_then_new_output_until_the_task_ends():
    api = FakeApi([page({"data": "a\n"}), page(next_="1"), page({"data": "b\n"}, next_="2"),
                   page(next_="2", running=False, state="Finished")])  # fmt: skip
    assert list(task_logs(api, "u", follow=True)) == ["a\n", "b\n"]
    assert [c["after"] for c in api.calls] == [None, "1", "1", "2"]
    assert api.calls[-1]["wait"] > 0


def test_tail_keeps_the_last_lines_of_what_exists_and_shows_skips():
    api = FakeApi([page({"data": "1\n2\n"}, {"data": "3\n", "skipped": 5}), page(next_="1")])
    assert "".join(task_logs(api, "u")) == "1\n2\n" + skip_marker(5) + "3\n"
    api = FakeApi([page({"data": "1\n2\n3\n"}), page(next_="1")])
    assert "".join(task_logs(api, "u", tail=2)) == "2\n3\n"


def test_an_ended_task_reads_its_std_log_artifact():
    api = FakeApi([page(running=False, next_=None, state="Finished")], std_log={"stderr.log": b"bad\n"})
    assert "".join(task_logs(api, "u", stream="stderr")) == "bad\n"


def test_an_ended_task_without_std_log_or_tail_says_its_output_was_not_kept():
    api = FakeApi([page(running=False, next_=None, state="Finished")])
    with pytest.raises(NoOutputKept, match="--terminal"):
        list(task_logs(api, "u"))


def test_an_unknown_stream_is_refused_before_any_request():
    api = FakeApi([])
    with pytest.raises(ValueError, match="stdin"):
        list(task_logs(api, "u", stream="stdin"))
    assert api.calls == []
