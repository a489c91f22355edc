"""worker_agent.output: what the shipper sends from the command's files (a fake API records the posts)."""

from __future__ import annotations

from client.http import TransportError
from mito.vocab import OutputStream
from worker_agent.output import OutputShipper


class Recorder:
    def __init__(self, fail: bool = False):
        self.posts: list[list[dict]] = []
        self.fail = fail

    def ship_output(self, task_id, chunks, *, timeout=None):
        if self.fail:
            raise TransportError("coordinator down")
        self.posts.append(chunks)


def _shipper(tmp_path, api, chunk_max=16):
    files = {OutputStream.stdout: tmp_path / "stdout.log", OutputStream.stderr: tmp_path / "stderr.log"}
    return OutputShipper(api, 7, files, chunk_max=chunk_max), files


def test_new_output_of_both_streams_goes_in_one_post_and_only_once(tmp_path):
    api = Recorder()
    shipper, files = _shipper(tmp_path, api)
    files[OutputStream.stdout].write_bytes(b"out\n")
    files[OutputStream.stderr].write_bytes(b"err\n")
    shipper.ship_once()
    shipper.ship_once()  # nothing new: no post
    assert api.posts == [
        [
            {"stream": "stdout", "data": "out\n", "skipped": 0},
            {"stream": "stderr", "data": "err\n", "skipped": 0},
        ]
    ]


def test_output_faster_than_a_chunk_is_skipped_to_the_newest_lines(tmp_path):
    api = Recorder()
    shipper, files = _shipper(tmp_path, api, chunk_max=16)
    files[OutputStream.stdout].write_bytes(b"".join(b"line %02d\n" % i for i in range(10)))  # 80 bytes
    shipper.ship_once()
    [[chunk]] = api.posts
    assert chunk["data"] == "line 09\n"  # the newest 16 bytes, from the line that begins inside them
    assert chunk["skipped"] == 72


def test_a_character_split_between_two_reads_is_decoded_whole(tmp_path):
    api = Recorder()
    shipper, files = _shipper(tmp_path, api)
    text = "é\n".encode()
    with files[OutputStream.stdout].open("ab") as fh:
        fh.write(text[:1])
        fh.flush()
        shipper.ship_once()
        fh.write(text[1:])
    shipper.ship_once()
    assert "".join(c["data"] for post in api.posts for c in post) == "é\n"


def test_a_failed_post_is_counted_as_skipped_in_the_next_chunk(tmp_path):
    api = Recorder(fail=True)
    shipper, files = _shipper(tmp_path, api)
    files[OutputStream.stdout].write_bytes(b"lost\n")
    shipper.ship_once()
    api.fail = False
    with files[OutputStream.stdout].open("ab") as fh:
        fh.write(b"kept\n")
    shipper.ship_once()
    assert api.posts == [[{"stream": "stdout", "data": "kept\n", "skipped": 5}]]


def test_stop_ships_what_was_written_last(tmp_path):
    api = Recorder()
    shipper, files = _shipper(tmp_path, api)
    shipper.interval = 60  # only the last shipment at stop can send it
    shipper.start()
    files[OutputStream.stdout].write_bytes(b"bye\n")
    shipper.stop()
    assert api.posts == [[{"stream": "stdout", "data": "bye\n", "skipped": 0}]]


def test_stop_without_start_ships_what_was_written_in_this_thread(tmp_path):
    api = Recorder()
    shipper, files = _shipper(tmp_path, api)
    files[OutputStream.stderr].write_bytes(b"quick\n")
    shipper.stop()  # the command ended before the shipper's thread was started
    assert api.posts == [[{"stream": "stderr", "data": "quick\n", "skipped": 0}]]
    assert shipper._thread is None


def test_stop_without_start_sends_nothing_when_nothing_was_written(tmp_path):
    api = Recorder()
    shipper, files = _shipper(tmp_path, api)
    files[OutputStream.stdout].write_bytes(b"")
    shipper.stop()
    assert api.posts == []
