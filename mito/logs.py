"""Logging for every Mitosis program (coordinator, jobs, agent, standalone), on the standard library.

`configure(program)` installs one handler on the root logger. `MITO_LOG_FORMAT=text` (the default) writes
human-readable lines; `MITO_LOG_FORMAT=json` writes one JSON object per line, with `ts`, `level`,
`logger`, `pid`, `program`, `msg`, then the context fields and any `extra=` fields of the call (`request_id`,
`user`, `worker`, `task`, `job`, `duration_ms`, ...). Context fields come from two places: `set_process`
(fixed for the whole process, e.g. the agent's worker id) and `bound(...)` (a context variable, so a
request, a job or a task run carries its own fields through every log call made inside it).

`rotating_log(path)` and `pump(stream, logger)` let `mito standalone` keep each child's output in its data
directory, rotated by size, with a single writer per file.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import logging.handlers
import os
import sys
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ROTATE_BYTES = 10 * 1000 * 1000
ROTATE_BACKUPS = 5
NOISY = ("httpx", "httpcore", "alembic", "botocore", "urllib3", "kombu", "amqp")

_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "mito_log_context", default=MappingProxyType({})
)
_process: dict[str, Any] = {}
# Attributes every LogRecord has: whatever else a record carries came from `extra=` and is logged.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "mito"}


def configure_cli(program: str, **kwargs: Any) -> None:
    """`configure` for a command-line program: an unknown MITO_LOG_FORMAT is a usage error (exit 2)."""
    import click

    try:
        configure(program, **kwargs)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


def log_format(value: str | None = None) -> str:
    """The format asked for (argument, else MITO_LOG_FORMAT, else text); ValueError for an unknown one."""
    fmt = (value or os.environ.get("MITO_LOG_FORMAT") or "text").strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"MITO_LOG_FORMAT must be one of {', '.join(FORMATS)}, not {fmt!r}")
    return fmt


def set_process(**fields: Any) -> None:
    """Fields every later line of this process carries (None removes one)."""
    for key, value in fields.items():
        if value is None:
            _process.pop(key, None)
        else:
            _process[key] = value


@contextlib.contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Add fields to every line logged inside the block (in this thread or task)."""
    token = bind(**fields)
    try:
        yield
    finally:
        _context.reset(token)


def bind(**fields: Any) -> contextvars.Token[Mapping[str, Any]]:
    """Add fields to the current context; `reset(token)` restores the previous ones."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v is not None}}
    return _context.set(merged)


def reset(token: contextvars.Token[Mapping[str, Any]]) -> None:
    """Undo a `bind`."""
    _context.reset(token)


def current() -> dict[str, Any]:
    """The context fields in force here (process fields, then bound ones)."""
    return {**_process, **_context.get()}


class ContextFilter(logging.Filter):
    """Attach the program name and the context fields to each record (as `record.mito`)."""

    def __init__(self, program: str):
        super().__init__()
        self.program = program

    def filter(self, record: logging.LogRecord) -> bool:
        record.mito = {"program": self.program, **current()}
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; values JSON cannot hold are written as strings."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
        }
        entry.update(getattr(record, "mito", {}))
        entry["msg"] = record.getMessage()
        entry.update(_extras(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The human-readable line, followed by the context and extra fields as key=value."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = {**getattr(record, "mito", {}), **_extras(record)}
        fields.pop("program", None)
        if not fields:
            return line
        head, sep, tail = line.partition("\n")  # keep a traceback below the fields
        return head + " [" + " ".join(f"{k}={v}" for k, v in fields.items()) + "]" + sep + tail


def formatter(fmt: str | None = None) -> logging.Formatter:
    """The formatter for MITO_LOG_FORMAT (or `fmt`)."""
    return JsonFormatter() if log_format(fmt) == "json" else TextFormatter()


def configure(
    program: str,
    *,
    fmt: str | None = None,
    level: str | None = None,
    stream: IO[str] | None = None,
    file: Path | None = None,
) -> None:
    """Send every log record of this process to `stream` (stderr), and to a rotated `file` if given."""
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)]
    if file is not None:
        handlers.append(
            logging.handlers.RotatingFileHandler(
                file, maxBytes=ROTATE_BYTES, backupCount=ROTATE_BACKUPS, encoding="utf-8"
            )
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    for handler in handlers:
        handler.setFormatter(formatter(fmt))
        handler.addFilter(ContextFilter(program))
        root.addHandler(handler)
    root.setLevel((level or os.environ.get("MITO_LOG_LEVEL") or "INFO").upper())
    logging.captureWarnings(True)  # a Python warning is a log line too (logger py.warnings), in the format
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)


def gunicorn_logconfig(program: str = "coordinator", fmt: str | None = None) -> dict[str, Any]:
    """gunicorn's `logconfig_dict`: its own messages in the same format as ours, on stderr."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"mito": {"()": ContextFilter, "program": program}},
        "formatters": {"mito": {"()": JsonFormatter if log_format(fmt) == "json" else TextFormatter}},
        "handlers": {
            "mito": {
                "class": "logging.StreamHandler",
                "formatter": "mito",
                "filters": ["mito"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": "INFO", "handlers": ["mito"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
        },
    }


def rotating_log(path: Path, name: str, *, max_bytes: int = ROTATE_BYTES) -> logging.Logger:
    """A logger that writes bare lines to `path`, rotated at `max_bytes`, keeping ROTATE_BACKUPS files."""
    logger = logging.getLogger(f"mito.files.{name}")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    if not logger.handlers:
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=max_bytes, backupCount=ROTATE_BACKUPS, encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    return logger


def pump(stream: IO[bytes], logger: logging.Logger) -> threading.Thread:
    """Copy a child's output, line by line, into `logger` (in a daemon thread) until the child closes it."""

    def copy() -> None:
        with stream:
            for raw in iter(stream.readline, b""):
                logger.info(raw.decode("utf-8", errors="replace").rstrip("\n"))

    thread = threading.Thread(target=copy, name=f"log-pump-{logger.name}", daemon=True)
    thread.start()
    return thread
