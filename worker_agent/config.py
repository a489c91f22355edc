"""Agent settings: defaults < config.toml [worker] table < MITO_* environment < command-line flags."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from mito.vocab.units import parse_duration

_SECONDS = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|secs|second|seconds)?\s*$")


def parse_seconds(value: Any) -> float:
    """Seconds from a number, `0.2s`, `1.5` or a humantime string (`30s`, `5m`, `200ms`)."""
    if isinstance(value, int | float):
        return float(value)
    m = _SECONDS.match(str(value))
    if m:
        return float(m.group(1))
    return parse_duration(str(value))


def split_list(value: Any) -> list[str]:
    """`a,b` or a TOML list into a list of non-empty stripped strings."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return [str(v).strip() for v in items if str(v).strip()]


def user_cache_dir() -> Path:
    """The user's cache directory for the agent (work dirs, token cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mitosis"


@dataclass
class WorkerConfig:
    """The agent's settings once every source is merged."""

    coordinator: str = "http://127.0.0.1:5000"
    user: str | None = None
    password: str | None = None
    tags: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    lifetime: str | None = None
    polling_interval: float = 5.0
    heartbeat_interval: float = 30.0
    work_dir: Path | None = None
    kill_grace: float = 10.0
    fetch_timeout: float = 1800.0
    download_timeout: float = 120.0
    upload_timeout: float = 600.0
    watch_poll_interval: float = 30.0
    skip_redis: bool = False
    credential_path: Path | None = None
    slots: int = 1  # tasks run at once, each slot registered as a worker of its own (worker_agent/slots.py)
    gpus: list[str] = field(default_factory=list)  # device ids shared out among the slots
    cpus_per_slot: int | None = None  # cores each slot's tasks are pinned to
    batch_reports: bool = True  # use the coordinator's report_batch extension when it offers it
    report_delay: float = 0.5  # how long queued exec states wait for a report to ride with (batched)
    # set per slot by worker_agent/slots.py, never by the user:
    task_env: dict[str, str] = field(default_factory=dict)  # e.g. the slot's CUDA_VISIBLE_DEVICES
    cpus: list[int] | None = None  # the cores of this slot

    def credentials_file(self) -> Path:
        """The agent's token cache (client/credentials.py format)."""
        return self.credential_path or user_cache_dir() / "worker-credentials.json"


# setting name -> (env var names, converter); the first env var that is set wins
_ENV: dict[str, tuple[tuple[str, ...], Callable[[Any], Any]]] = {
    "coordinator": (("MITO_COORDINATOR_ADDR",), str),
    "user": (("MITO_USER",), str),
    "password": (("MITO_PASSWORD",), str),
    "tags": (("MITO_TAGS",), split_list),
    "groups": (("MITO_GROUPS",), split_list),
    "labels": (("MITO_LABELS",), split_list),
    "lifetime": (("MITO_LIFETIME",), str),
    "polling_interval": (("MITO_POLLING_INTERVAL",), parse_seconds),
    "heartbeat_interval": (("MITO_HEARTBEAT_INTERVAL",), parse_seconds),
    "work_dir": (("MITO_WORK_DIR", "MITO_RESOURCE_DIR"), Path),
    "kill_grace": (("MITO_KILL_GRACE",), parse_seconds),
    "fetch_timeout": (("MITO_FETCH_TIMEOUT",), parse_seconds),
    "download_timeout": (("MITO_DOWNLOAD_TIMEOUT",), parse_seconds),
    "upload_timeout": (("MITO_UPLOAD_TIMEOUT",), parse_seconds),
    "watch_poll_interval": (("MITO_WATCH_POLL_INTERVAL",), parse_seconds),
    "skip_redis": (("MITO_SKIP_REDIS",), lambda v: str(v).lower() in ("1", "true", "yes", "on")),
    "credential_path": (("MITO_CREDENTIAL_PATH",), Path),
    "slots": (("MITO_SLOTS",), int),
    "gpus": (("MITO_GPUS",), split_list),
    "cpus_per_slot": (("MITO_CPUS_PER_SLOT",), int),
    "batch_reports": (("MITO_BATCH_REPORTS",), lambda v: str(v).lower() not in ("0", "false", "no", "off")),
    "report_delay": (("MITO_REPORT_DELAY",), parse_seconds),
}
_FILE_KEYS = {"coordinator_addr": "coordinator"}


def load_config(
    flags: dict[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
) -> WorkerConfig:
    """Merge the sources; `flags` holds only the options given on the command line (None = not given).

    ValueError for a value that cannot be one (a slot count that is not a positive integer, ...)."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = Path(config_file or env.get("MITO_CONFIG") or "config.toml")
    if path.is_file():
        with path.open("rb") as fh:
            table = tomllib.load(fh).get("worker", {})
        for key, value in table.items():
            name = _FILE_KEYS.get(key, key)
            if name in _ENV:
                values[name] = _convert(name, value)
    for name, (names, _) in _ENV.items():
        for var in names:
            if env.get(var):
                values[name] = _convert(name, env[var])
                break
    for name, value in (flags or {}).items():
        if value is not None and value != ():
            values[name] = _convert(name, value) if name in _ENV and isinstance(value, str) else value
    if values.get("gpus") and "slots" not in values:
        values["slots"] = len(values["gpus"])  # --gpus alone: one slot per device
    known = {f.name for f in fields(WorkerConfig)}
    config = WorkerConfig(**{k: v for k, v in values.items() if k in known})
    check_slots(config)
    return config


def _convert(name: str, value: Any) -> Any:
    try:
        return _ENV[name][1](value)
    except ValueError as exc:
        raise ValueError(f"{name.replace('_', '-')}: {value!r} is not valid ({exc})") from exc


def check_slots(config: WorkerConfig) -> None:
    """Refuse slot settings that cannot be laid out: no slot, GPUs that do not share out evenly."""
    if config.slots < 1:
        raise ValueError(f"--slots must be at least 1, not {config.slots}")
    if config.gpus and len(config.gpus) % config.slots:
        raise ValueError(
            f"--gpus lists {len(config.gpus)} device(s), which do not share out evenly among "
            f"{config.slots} slots: give a multiple of --slots (or as many as --slots)"
        )
    if config.cpus_per_slot is not None and config.cpus_per_slot < 1:
        raise ValueError(f"--cpus-per-slot must be at least 1, not {config.cpus_per_slot}")
