"""mito.logs: the text and JSON formats, context fields, rotation and the child-output pump."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import subprocess
import sys

import pytest

from mito import logs
from tests.helpers import ROOT, captured_logs


@pytest.fixture
def capture():
    """Configure logging into a buffer for the test (format and program chosen by the test)."""
    with contextlib.ExitStack() as stack:
        yield lambda fmt, program="test": stack.enter_context(captured_logs(program, fmt))


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_line_has_the_fields_context_and_extras(capture):
    buffer = capture("json", program="coordinator")
    logs.set_process(worker="w-1")
    with logs.bound(request_id="r-1", task="t-1"):
        logging.getLogger("mito.access").info("GET %s", "/x", extra={"status": 200, "duration_ms": 1.5})
    logging.getLogger("other").warning("outside")
    first, second = lines(buffer)
    assert first["msg"] == "GET /x" and first["level"] == "INFO" and first["logger"] == "mito.access"
    assert first["program"] == "coordinator" and first["worker"] == "w-1"
    assert (first["request_id"], first["task"], first["status"], first["duration_ms"]) == (
        "r-1",
        "t-1",
        200,
        1.5,
    )
    assert first["ts"].endswith("+00:00")
    assert "request_id" not in second and second["worker"] == "w-1"


def test_json_line_carries_the_traceback(capture):
    buffer = capture("json")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("x").exception("failed")
    (entry,) = lines(buffer)
    assert entry["msg"] == "failed" and "RuntimeError: boom" in entry["exc"]


def test_text_line_is_human_readable_with_fields(capture):
    buffer = capture("text")
    with logs.bound(request_id="r-2"):
        logging.getLogger("mito.access").info("GET /y 200", extra={"user": "alice"})
    line = buffer.getvalue().strip()
    assert " INFO mito.access: GET /y 200 [request_id=r-2 user=alice]" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_bound_fields_end_with_the_block(capture):
    buffer = capture("json")
    with logs.bound(task="t-3"):
        pass
    logging.getLogger("x").info("after")
    assert "task" not in lines(buffer)[0]


def test_unknown_format_is_refused(monkeypatch):
    monkeypatch.setenv("MITO_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="MITO_LOG_FORMAT"):
        logs.log_format()
    monkeypatch.setenv("MITO_LOG_FORMAT", "JSON")
    assert logs.log_format() == "json"


def test_rotating_log_rotates_by_size(tmp_path):
    logger = logs.rotating_log(tmp_path / "child.log", "rotation-test", max_bytes=1000)
    for i in range(100):
        logger.info("line %03d %s", i, "x" * 40)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names[:2] == ["child.log", "child.log.1"] and len(names) == 1 + logs.ROTATE_BACKUPS
    assert all(p.stat().st_size <= 1000 for p in tmp_path.iterdir())
    assert (tmp_path / "child.log").read_text().splitlines()[-1].startswith("line 099")


def test_pump_copies_a_childs_lines(tmp_path):
    child = subprocess.Popen(
        [sys.executable, "-c", "print('one'); print('two'); import sys; sys.stderr.write('three\\n')"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    logs.pump(child.stdout, logs.rotating_log(tmp_path / "c.log", "pump-test")).join(timeout=10)
    child.wait()
    assert (tmp_path / "c.log").read_text().splitlines() == ["one", "two", "three"]


def test_gunicorn_logconfig_uses_our_formatter():
    config = logs.gunicorn_logconfig("coordinator", fmt="json")
    assert config["formatters"]["mito"]["()"] is logs.JsonFormatter
    assert config["loggers"]["gunicorn.error"]["propagate"] is True


@pytest.mark.parametrize(
    "args", [["worker", "--coordinator", "http://127.0.0.1:9"], ["coordinator", "--no-migrate"]]
)
def test_programs_refuse_an_unknown_format_as_a_usage_error(args):
    env = {**os.environ, "MITO_LOG_FORMAT": "yaml"}
    done = subprocess.run(
        [sys.executable, "-m", "mito", *args], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    assert "MITO_LOG_FORMAT must be one of text, json" in done.stderr
