"""`mito worker`: run a worker agent."""

from __future__ import annotations

import logging
import sys

import click

from worker_agent.config import load_config


@click.command("worker")
@click.option(
    "--coordinator", "-c", help="Coordinator URL (MITO_COORDINATOR_ADDR; default http://127.0.0.1:5000)."
)
@click.option("--user", "-u", help="User that owns the worker (MITO_USER).")
@click.option("--password", "-p", help="That user's password (MITO_PASSWORD).")
@click.option("--tags", "-t", help="Comma-separated tags this worker carries (MITO_TAGS).")
@click.option("--groups", "-g", help="Comma-separated groups to serve, `g` or `g:role` (MITO_GROUPS).")
@click.option("--labels", "-l", help="Comma-separated labels (MITO_LABELS).")
@click.option("--lifetime", help="Lifetime of the worker token, e.g. 7d (MITO_LIFETIME).")
@click.option("--polling-interval", help="Wait between empty fetches, e.g. 5s (MITO_POLLING_INTERVAL).")
@click.option("--heartbeat-interval", help="Wait between heartbeats, e.g. 30s (MITO_HEARTBEAT_INTERVAL).")
@click.option("--work-dir", help="Root of the task workspaces (MITO_WORK_DIR; default the user cache dir).")
@click.option("--kill-grace", help="Wait between SIGTERM and SIGKILL of a task, e.g. 10s (MITO_KILL_GRACE).")
@click.option("--skip-redis", is_flag=True, default=None, help="Never use Redis (MITO_SKIP_REDIS).")
@click.option("--config", "config_file", help="TOML file with a [worker] table (MITO_CONFIG).")
def worker(config_file, **flags) -> None:
    """Run a worker agent: fetch tasks, run them, upload their results, commit."""
    from worker_agent.agent import Agent

    try:
        config = load_config(flags, config_file=config_file)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s mito-worker: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per step, not per request
    agent = Agent(config)
    agent.install_signal_handlers()
    sys.exit(agent.run())
