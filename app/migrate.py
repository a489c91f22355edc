"""Run Alembic programmatically (used by `mito coordinator`, `mito db upgrade`, the standalone and the tests).

The revisions ship inside the package (`app/migrations`), so an installed wheel migrates from any working
directory; `alembic.ini` at the repository root points at the same scripts for developers.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

SCRIPTS = Path(__file__).resolve().parent / "migrations"


def alembic_config(db_url: str) -> Config:
    """An Alembic config for `db_url` on the packaged scripts (no ini file: logging stays ours)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["db_url"] = db_url
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(db_url: str, revision: str = "head") -> None:
    """Apply the migrations up to `revision`."""
    command.upgrade(alembic_config(db_url), revision)


def downgrade(db_url: str, revision: str = "base") -> None:
    """Revert the migrations down to `revision`."""
    command.downgrade(alembic_config(db_url), revision)


def bootstrap(db_url: str, admin_user: str, admin_password: str) -> None:
    """Migrate to head, then create the bootstrap admin unless the database has it (once per database)."""
    from app import db
    from app.services import user as user_service

    upgrade(db_url)
    db.bind(db_url)
    user_service.ensure_admin(admin_user, admin_password)
