"""`mito worker`: run a worker agent."""

from __future__ import annotations

import sys
from typing import Any

import click

from mito import logs
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
@click.option("--slots", help="Tasks run at once, each slot a worker of its own (MITO_SLOTS; default 1).")
@click.option(
    "--gpus",
    help="Comma-separated GPU ids shared out among the slots: CUDA_VISIBLE_DEVICES, tag gpu (MITO_GPUS).",
)
@click.option("--cpus-per-slot", help="Pin each slot's tasks to this many cores (MITO_CPUS_PER_SLOT).")
@click.option(
    "--metrics-bind", envvar="MITO_METRICS_BIND", help="Serve this agent's metrics at HOST:PORT/metrics."
)
def worker(config_file: str | None, metrics_bind: str | None, **flags: Any) -> None:
    """Run a worker agent: fetch tasks, run them, upload their results, commit."""
    from worker_agent import metrics
    from worker_agent.slots import Slots

    try:
        config = load_config(flags, config_file=config_file)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    # MITO_LOG_FORMAT=json: one JSON object per line; httpx quiet (one line per step)
    logs.configure_cli("agent")
    if metrics_bind:
        try:
            metrics.serve(metrics_bind)
        except (ValueError, OSError) as exc:
            raise click.UsageError(f"--metrics-bind {metrics_bind}: {exc}") from exc
    try:
        slots = Slots(config)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    slots.install_signal_handlers()
    sys.exit(slots.run())
