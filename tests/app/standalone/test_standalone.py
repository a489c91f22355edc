"""`mito standalone` settings, socket and agent credentials (unit level; live runs: tests/integration)."""

from __future__ import annotations

import re
import socket
import stat

import pytest
from click import ClickException

from app.config import DEFAULTS
from app.standalone import child_env, resolve_settings
from app.standalone.supervisor import listen, local_url, write_agent_credentials
from tests.helpers import ROOT


def readme_config_keys() -> dict[str, str]:
    """Each MITO_* key of the README's configuration table -> its `used by` column."""
    keys = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[0].startswith("`MITO_"):
            for key in re.findall(r"`(MITO_[A-Z0-9_]+)`", cells[0]):
                keys[key] = cells[2]
    return keys


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    import os

    for key in [k for k in os.environ if k.startswith("MITO_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_defaults_keep_everything_in_the_data_dir(clean_env, tmp_path):
    s, _ = resolve_settings("0.0.0.0:8123", tmp_path / "d", None)
    assert s["DB_URL"] == f"sqlite:///{(tmp_path / 'd').resolve() / 'mitosis.db'}"
    assert s["PUBLIC_URL"] == "http://127.0.0.1:8123" and s["BIND"] == "0.0.0.0:8123"
    assert s["REDIS_URL"] is None and s["S3_URL"] is None and s["BROKER_URL"] is None


def test_every_documented_coordinator_key_applies_to_the_standalone(clean_env, tmp_path):
    documented = {
        k: used for k, used in readme_config_keys().items() if "coordinator" in used or "jobs" in used
    }
    assert "MITO_BIND" in documented and "MITO_DB_URL" in documented  # the table was parsed
    values = {}
    for key in documented:
        if key == "MITO_CONFIG":
            continue
        default = DEFAULTS[key[5:]]  # KeyError: a documented key that nothing reads
        value = "7" if isinstance(default, int) and not isinstance(default, bool) else "true"
        if not isinstance(default, bool | int):
            value = {"MITO_BIND": "127.0.0.1:6123", "MITO_DB_URL": "sqlite:////tmp/elsewhere.db"}.get(
                key, "x1"
            )
        values[key] = value
        clean_env.setenv(key, value)
    values["MITO_DATA_DIR"] = str(tmp_path / values["MITO_DATA_DIR"])  # made absolute for the children
    settings, overrides = resolve_settings(None, None, None)
    env = child_env(overrides)  # what the coordinator child and the agents get
    for key, value in values.items():
        assert str(settings[key[5:]]).lower() == value, (key, settings[key[5:]])
        assert env[key].lower() == value, (key, env[key])


def test_flags_win_over_the_environment(clean_env, tmp_path):
    clean_env.setenv("MITO_BIND", "127.0.0.1:6001")
    clean_env.setenv("MITO_PUBLIC_URL", "https://mito.example")
    s, _ = resolve_settings("127.0.0.1:6002", None, None)
    assert s["BIND"] == "127.0.0.1:6002" and s["PUBLIC_URL"] == "https://mito.example"
    assert s["DATA_DIR"] == str(tmp_path / "mito-data")


def test_listen_on_a_busy_port_says_address_already_in_use():
    first = listen("127.0.0.1:0")
    port = first.getsockname()[1]
    try:
        with pytest.raises(
            ClickException, match=f"cannot listen on 127.0.0.1:{port}: address already in use"
        ):
            listen(f"127.0.0.1:{port}")
    finally:
        first.close()
    again = listen(f"127.0.0.1:{port}")  # free again once closed
    assert again.get_inheritable()
    again.close()


def test_local_url_reaches_wildcard_binds_on_loopback():
    assert local_url("0.0.0.0:5000") == "http://127.0.0.1:5000"
    assert local_url("[::]:5000") == "http://127.0.0.1:5000"
    assert local_url("10.1.2.3:80") == "http://10.1.2.3:80"


def test_agent_credentials_are_private_to_the_owner_and_read_by_the_agent_cache(tmp_path):
    from client.credentials import CredentialCache

    path = tmp_path / "agents" / "agent-1.credentials.json"
    write_agent_credentials(path, "http://127.0.0.1:1", "root", "old")
    write_agent_credentials(path, "http://127.0.0.1:1", "root", "tok")  # a restart mints a fresh one
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert CredentialCache(path).find("root", "http://127.0.0.1:1").token == "tok"
    assert not list(path.parent.glob("*.tmp"))


def test_listen_refuses_a_malformed_bind():
    with pytest.raises(ClickException, match="cannot listen on nowhere"):
        listen("nowhere")
    with socket.socket() as s:
        assert s.fileno() > 0
