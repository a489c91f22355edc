"""`mito standalone`: a complete installation on one machine with nothing but Python.

One process supervises (app/standalone/supervisor.py):
- the coordinator (`mito coordinator`, i.e. app/server.py under gunicorn) as a child process, on a socket
  this process binds;
- the housekeeping jobs, in this process (`app.jobs.inprocess.start(app)`);
- one local worker agent with N slots (`mito worker --slots N`), on credentials minted here for the
  bootstrap admin, serving its personal group plus the `--groups` granted to its workers
  (app/standalone/grants.py), restarted with backoff whenever it exits.

Settings are the coordinator's (defaults < config.toml < MITO_* < flags); the defaults make the install
self-contained under the data directory: the SQLite database, the local-disk object store, the JWT secret
and the logs, so a restart keeps all data. Ctrl-C (SIGINT) or SIGTERM stops the agent first (they
unregister), then the jobs, then the coordinator.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from app.standalone.grants import LABEL, Grants, parse_groups
from app.standalone.supervisor import Supervisor, listen, local_url
from mito import logs

log = logging.getLogger("mito.standalone")


def resolve_settings(
    bind: str | None, data_dir: Path | None, config_file: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The coordinator settings of this install, as `mito coordinator` reads them, and the overrides
    (flags and derived values) that every child process gets on top of the environment."""
    from app.config import load_settings

    overrides: dict[str, Any] = {}
    if config_file:
        overrides["CONFIG_FILE"] = config_file
    if bind:
        overrides["BIND"] = bind
    if data_dir:
        overrides["DATA_DIR"] = str(data_dir)
    settings = load_settings(overrides)
    # Children run with the same settings: an absolute data dir, one shutdown secret, one public URL.
    overrides["DATA_DIR"] = str(Path(settings["DATA_DIR"]).resolve())
    overrides["SHUTDOWN_SECRET"] = settings["SHUTDOWN_SECRET"]
    overrides["PUBLIC_URL"] = settings["PUBLIC_URL"] or local_url(settings["BIND"])
    return load_settings(overrides), overrides


def child_env(overrides: dict[str, Any]) -> dict[str, str]:
    """The environment of a child process: ours plus the resolved settings as MITO_* variables."""
    env = dict(os.environ)
    for key, value in overrides.items():
        env["MITO_CONFIG" if key == "CONFIG_FILE" else f"MITO_{key}"] = str(value)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def token_minter(app, username: str) -> Callable[[], str]:
    """A function that issues a fresh user token for `username` (the local agents' credential)."""
    from app import auth, db
    from app.services import user as user_service

    def mint() -> str:
        with app.app_context():
            try:
                return auth.issue_user_token(user_service.require_user(username))
            finally:
                db.session.remove()

    return mint


def banner(supervisor: Supervisor, settings: dict[str, Any], workers: int, groups: str | None) -> str:
    """What the console shows once the install is up."""
    served = f" (serving {settings['ADMIN_USER']}" + (f", {groups})" if groups else ")")
    return (
        f"Mitosis standalone is running at {supervisor.url}\n"
        f"  admin user:     {settings['ADMIN_USER']}\n"
        f"  admin password: {settings['ADMIN_PASSWORD']} (unless changed since the first start)\n"
        f"  data directory: {supervisor.data_dir}\n"
        f"  logs:           {supervisor.log_dir}\n"
        f"  local workers:  {workers} (slots of one agent)" + (served if workers else "") + "\n"
        f"Log in with:  mito --coordinator {supervisor.url} login {settings['ADMIN_USER']}\n"
        "Press Ctrl-C to stop."
    )


def start_housekeeping(app) -> Callable[[], None]:
    """Run the housekeeping jobs in this process; returns the function that stops them."""
    from app.jobs import inprocess

    return inprocess.start(app).stop


@click.command("standalone")
@click.option("--bind", default=None, help="HOST:PORT to listen on (MITO_BIND; default 127.0.0.1:5000).")
@click.option(
    "--workers",
    "workers",
    default=1,
    show_default=True,
    type=click.IntRange(0),
    help="Local workers: slots of one agent.",
)
@click.option(
    "--data-dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Database, object store, secrets and logs (MITO_DATA_DIR; default ./mito-data).",
)
@click.option("--config", "config_file", default=None, help="A config.toml with a [coordinator] table.")
@click.option(
    "--polling-interval",
    envvar="MITO_POLLING_INTERVAL",
    default="1s",
    show_default=True,
    help="How often idle local agents poll (MITO_POLLING_INTERVAL).",
)
@click.option(
    "--groups", envvar="MITO_GROUPS", help="More groups the local agents serve: `g` (Write) or `g:role`."
)
@click.option("--tags", envvar="MITO_TAGS", help="Comma-separated tags of the local agents (MITO_TAGS).")
@click.option("--labels", envvar="MITO_LABELS", help="Comma-separated labels of the local agents.")
def standalone(
    bind: str | None,
    workers: int,
    data_dir: Path | None,
    config_file: str | None,
    polling_interval: str,
    groups: str | None,
    tags: str | None,
    labels: str | None,
) -> None:
    """Run a complete Mitosis on this machine: coordinator, housekeeping and local agents (Ctrl-C stops)."""
    from app import create_app
    from app.server import prepare

    settings, overrides = resolve_settings(bind, data_dir, config_file)
    log_dir = Path(settings["DATA_DIR"]) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    logs.configure_cli("standalone", file=log_dir / "standalone.log")
    relations = parse_groups(groups)
    sock = listen(settings["BIND"])  # first: a busy port fails before anything else happens
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    agent_args = ["--polling-interval", polling_interval, "--labels", ",".join(filter(None, [LABEL, labels]))]
    if tags:
        agent_args += ["--tags", tags]
    supervisor: Supervisor | None = None
    stop_jobs: Callable[[], None] = lambda: None  # noqa: E731
    failure: str | None = None
    killed = 0
    try:
        prepare(overrides)  # migrations and the bootstrap admin, once, before any child starts
        app = create_app(overrides)
        supervisor = Supervisor(
            settings,
            workers=workers,
            agent_args=agent_args,
            env=child_env(overrides),
            mint_token=token_minter(app, settings["ADMIN_USER"]),
        )
        supervisor.start_coordinator(sock)
        sock.close()  # the coordinator holds it now
        stop_jobs = start_housekeeping(app)
        supervisor.start_agents()
        click.echo(banner(supervisor, settings, workers, groups))
        grants = Grants(app, settings["ADMIN_USER"], relations)
        while not failure and not stop.wait(0.5):
            failure = supervisor.poll() or grants.sweep()
    finally:
        sock.close()
        if supervisor is not None:
            click.echo("Stopping: agents, housekeeping, coordinator ...", err=True)
            killed = supervisor.stop_agents()
            stop_jobs()
            killed += supervisor.stop_coordinator()
    if failure:
        raise click.ClickException(failure)
    click.echo("Stopped." + (f" ({killed} process(es) had to be killed)" if killed else ""))
