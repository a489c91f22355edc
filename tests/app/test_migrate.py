"""The bootstrap admin: create_app writes nothing; `mito db upgrade` creates the admin, once."""

from __future__ import annotations

import os
import subprocess
import sys

import sqlalchemy as sa

from tests.conftest import _clean_tables
from tests.helpers import db_snapshot


def test_create_app_writes_nothing_to_the_database(app, app_config):
    from app import create_app

    _clean_tables(app, admin=False)
    create_app(app_config)
    assert all(rows == [] for rows in db_snapshot(app).values())


def _db_upgrade(cwd, db_file, password: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MITO_")}
    env.update(MITO_DB_URL=f"sqlite:///{db_file}", MITO_ADMIN_PASSWORD=password, MITO_DATA_DIR=str(cwd))
    return subprocess.run(
        [sys.executable, "-m", "mito", "db", "upgrade"], cwd=cwd, env=env, capture_output=True, text=True
    )


def test_db_upgrade_from_any_directory_creates_the_bootstrap_admin_once(tmp_path):
    from app import auth

    db_file = tmp_path / "fresh.db"
    first = _db_upgrade(tmp_path, db_file, "first-password")
    assert first.returncode == 0, first.stderr
    again = _db_upgrade(tmp_path, db_file, "second-password")  # a later setting changes nothing
    assert again.returncode == 0, again.stderr
    engine = sa.create_engine(f"sqlite:///{db_file}")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT username, encrypted_password, admin FROM users")).all()
    engine.dispose()
    assert [(name, bool(admin)) for name, _, admin in rows] == [("mitosis_admin", True)]
    assert auth.verify_password(rows[0][1], auth.md5_bytes("first-password"))
