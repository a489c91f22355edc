"""Coordinator commands of `mito`: coordinator, db upgrade/downgrade."""

from __future__ import annotations

import click

from mito import logs


@click.command("coordinator")
@click.option(
    "--bind", envvar="MITO_BIND", default=None, help="HOST:PORT to listen on (default 127.0.0.1:5000)."
)
@click.option("--config", "config_file", default=None, help="A config.toml with a [coordinator] table.")
@click.option(
    "--no-migrate",
    is_flag=True,
    default=None,
    help="Do not apply migrations (nor create the bootstrap admin) on start (MITO_AUTO_MIGRATE=false).",
)
@click.option("--workers", "processes", default=1, show_default=True, help="gunicorn worker processes.")
def coordinator(bind: str | None, config_file: str | None, no_migrate: bool | None, processes: int) -> None:
    """Run the coordinator REST API (migrates the database first unless --no-migrate)."""
    from app.server import serve

    overrides = {k: v for k, v in {"BIND": bind, "CONFIG_FILE": config_file}.items() if v}
    logs.configure_cli("coordinator")
    serve(overrides, migrate=False if no_migrate else None, processes=processes)


@click.group("db")
def db_group() -> None:
    """Database migrations."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION; at head, also create the bootstrap admin (once per database)."""
    from app import migrate
    from app.server import prepare

    if revision == "head":
        prepare()
    else:
        migrate.upgrade(prepare(migrate=False)["DB_URL"], revision)


@db_group.command("downgrade")
@click.option("--revision", default="base", show_default=True)
def db_downgrade(revision: str) -> None:
    """Revert migrations down to REVISION."""
    from app import migrate
    from app.config import load_settings

    migrate.downgrade(load_settings()["DB_URL"], revision)
