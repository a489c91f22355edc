"""Serve the coordinator under gunicorn (embedded), after migrating the database."""

from __future__ import annotations

import atexit
import ctypes
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication

from mito import logs

log = logging.getLogger(__name__)

# The longest request line (method, URL, version) served; longer is a JSON 414. gunicorn's maximum.
MAX_REQUEST_LINE = 8190
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# An idle keep-alive connection is closed by its client first: httpx (SDK, CLI) and the agent's pool
# (client/keepalive.py) drop one after 5 s.
# Were the server first (gunicorn's default is 2 s), a request sent just as it closes the connection would
# fail with "Server disconnected without sending a response".
KEEPALIVE_S = 30


class _Gunicorn(BaseApplication):
    def __init__(self, app_factory, options: dict[str, Any]):
        self._factory = app_factory
        self._options = options
        super().__init__()

    def load_config(self):
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self):
        return self._factory()


def prepare(overrides: Mapping[str, Any] | None = None, *, migrate: bool = True) -> dict:
    """Resolve settings, create the data directory, apply migrations and create the bootstrap admin.

    In production it first refuses a weak JWT secret and a bootstrap admin whose password is the default
    (ConfigError).
    """
    from app import migrate as migrations
    from app import security
    from app.config import load_settings

    settings = load_settings(overrides)
    Path(settings["DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    security.jwt_secret(settings)  # a bad secret is refused before the database is touched
    refuse_default_admin_password(settings)
    if migrate:
        migrations.bootstrap(settings["DB_URL"], settings["ADMIN_USER"], settings["ADMIN_PASSWORD"])
    return settings


def refuse_default_admin_password(settings: Mapping[str, Any]) -> None:
    """Production: no start while the bootstrap admin has (or would be created with) the default password."""
    from app import db
    from app.config import DEFAULT_ADMIN_PASSWORD, ConfigError, production
    from app.services import user as user_service

    if not production(settings):
        return
    db.bind(settings["DB_URL"])
    stored_default = user_service.has_password(settings["ADMIN_USER"], DEFAULT_ADMIN_PASSWORD)
    if stored_default or (stored_default is None and settings["ADMIN_PASSWORD"] == DEFAULT_ADMIN_PASSWORD):
        where = "has" if stored_default else "would be created with"
        raise ConfigError(
            f"the admin {settings['ADMIN_USER']} {where} the default password, refused in production "
            "(MITO_PRODUCTION, on with PostgreSQL): set MITO_ADMIN_PASSWORD before the first start, or "
            f"change it (`mito admin users change-password {settings['ADMIN_USER']}`) with MITO_PRODUCTION=0"
        )


def serve(
    overrides: Mapping[str, Any] | None = None, *, migrate: bool | None = None, processes: int = 1
) -> None:
    """Run the REST API until SIGTERM/SIGINT or an admin shutdown; in-flight requests finish first.

    `migrate=None` follows the AUTO_MIGRATE setting (MITO_AUTO_MIGRATE).
    """
    share_process_metrics()
    from app import create_app, db
    from app.config import load_settings

    if migrate is None:
        migrate = bool(load_settings(overrides)["AUTO_MIGRATE"])
    settings = prepare(overrides, migrate=migrate)
    # The shutdown secret must be the same in every gunicorn process: fix it before forking.
    fixed = dict(overrides or {})
    fixed["SHUTDOWN_SECRET"] = settings["SHUTDOWN_SECRET"]
    if settings.get("SHUTDOWN_SECRET_GENERATED"):
        log.warning("Set random shutdown secret: %s", settings["SHUTDOWN_SECRET"])
    create_app(fixed)  # fail fast on bad configuration, before forking
    db.dispose_engines()  # gunicorn forks workers: an inherited pooled connection would be shared by them
    options = {
        "bind": settings["BIND"],
        "workers": processes,
        "worker_class": "gthread",
        "threads": 8,
        "graceful_timeout": 30,
        "keepalive": KEEPALIVE_S,
        "limit_request_line": MAX_REQUEST_LINE,
        "post_fork": die_with_master,
        "post_worker_init": stop_marking_on_term,
        # app/logs.py writes the access lines (with request id, caller, task and duration); gunicorn's own
        # messages take the same format (MITO_LOG_FORMAT).
        "logconfig_dict": logs.gunicorn_logconfig("coordinator"),
    }
    gunicorn_util.write_error = write_json_error
    _Gunicorn(lambda: create_app(fixed), options).run()


def die_with_master(server: Any, worker: Any) -> None:
    """gunicorn post_fork: the worker is killed when its master dies, even by SIGKILL (Linux).

    Without it, the workers of a SIGKILLed master keep the listening socket for their graceful timeout:
    connections hang and a restarted coordinator cannot bind.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != server.pid:  # the master died before the death signal was armed
        os._exit(1)


def stop_marking_on_term(worker: Any) -> None:
    """gunicorn post_worker_init: the worker's liveness marks stop with SIGTERM, not when it exits.

    From SIGTERM on, the worker accepts no new connection but may take seconds to exit (requests in flight,
    kept-alive connections lingering); agents' heartbeats cannot get in meanwhile, so the reaper must not
    count that time as serving (app/services/liveness.py).
    """
    from app.services import liveness

    previous = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        liveness.stop_marking()
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, on_term)


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's own answer to a request it refuses before the app sees it, in the spec's error shape.

    gunicorn answers an over-long request line (414), too many or too large headers (431), an unparsable
    request (400) and unsupported transfer codings (501) itself, in HTML; `serve` installs this writer in
    place of gunicorn.util.write_error (the one function every worker class sends those answers with).
    """
    message = f"{reason}: {mesg}" if mesg else reason
    body = json.dumps({"error": message, "msg": message}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin1") + body)


def share_process_metrics() -> None:
    """Let every gunicorn process add to the same latency histograms (prometheus-client multiprocess mode).

    The directory must be known before prometheus_client is first imported, hence before the app is built;
    each server gets its own (unless PROMETHEUS_MULTIPROC_DIR is set), removed when its master exits.
    """
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    folder = tempfile.mkdtemp(prefix="mito-prometheus-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    master = os.getpid()

    def remove() -> None:
        if os.getpid() == master:  # forked gunicorn workers inherit this exit hook
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)
