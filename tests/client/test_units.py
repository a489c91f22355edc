"""Unit tests of small client and standalone helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from client import credentials
from client.cli.tasks import exit_code


@pytest.mark.parametrize(
    ("info", "code"),
    [
        ({"state": "Finished", "result": {"exit_status": 0}}, 0),
        ({"state": "Finished", "result": {"exit_status": 3}}, 3),
        ({"state": "Finished", "result": {"exit_status": -9}}, 137),
        ({"state": "Finished", "result": {"exit_status": 300}}, 1),
        ({"state": "Cancelled", "result": {"exit_status": 0, "msg": "UserCancellation"}}, 1),
        ({"state": "Cancelled", "result": {"exit_status": 2, "msg": "ExecTimeout"}}, 2),
    ],
)
def test_wait_exit_code(info, code):
    assert exit_code(info) == code


def test_config_dir_honours_override_then_xdg(monkeypatch, tmp_path):
    monkeypatch.delenv("MITO_CONFIG_DIR", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert credentials.credentials_path() == tmp_path / "xdg" / "mitosis" / "credentials"
    monkeypatch.setenv("MITO_CONFIG_DIR", str(tmp_path / "own"))
    assert credentials.credentials_path() == Path(tmp_path / "own" / "credentials")


def test_an_unreadable_credentials_file_counts_as_empty(monkeypatch, tmp_path):
    monkeypatch.setenv("MITO_CONFIG_DIR", str(tmp_path))
    (tmp_path / "credentials").write_text("not json")
    assert credentials.load() == []
    credentials.save(credentials.Credential("a", "t", "http://x"))
    assert credentials.find("a").token == "t" and credentials.find("b") is None


def test_shell_completion_completes_client_groups():
    import os
    import subprocess
    import sys

    env = dict(os.environ, _MITO_COMPLETE="bash_complete", COMP_WORDS="mito tas", COMP_CWORD="1")
    out = subprocess.run([sys.executable, "-m", "mito"], env=env, capture_output=True, text=True, timeout=60)
    assert "plain,tasks" in out.stdout.splitlines()
