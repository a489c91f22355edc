"""Production mode (issue #12 item 11): no default or short JWT secret, no default admin password, no
token without `exp`; an empty secret is a startup error everywhere."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ADMIN_USER
from tests.helpers import ROOT, TEST_JWT_SECRET, coordinator_env, md5_list


@pytest.mark.parametrize(
    ("url", "value", "expected"),
    [
        ("sqlite:////tmp/x.db", None, False),
        ("postgresql+psycopg2://h/db", None, True),
        ("postgresql+psycopg2://h/db", "", True),
        ("postgresql+psycopg2://h/db", "0", False),
        ("postgresql+psycopg2://h/db", False, False),
        ("sqlite:////tmp/x.db", "1", True),
        ("sqlite:////tmp/x.db", True, True),
    ],
)
def test_production_is_on_with_postgresql_unless_said_otherwise(url, value, expected):
    from app.config import production

    assert production({"DB_URL": url, "PRODUCTION": value}) is expected


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        ("short-secret-of-31-bytes-......", "MITO_JWT_SECRET is 31 bytes: production needs at least 32"),
        ("mitosis-insecure-default-jwt-secret", "MITO_JWT_SECRET must be set in production"),
        ("", "MITO_JWT_SECRET is empty"),
        ("   ", "MITO_JWT_SECRET is empty"),
    ],
)
def test_production_refuses_a_weak_jwt_secret_at_startup(app_config, secret, message):
    from app import create_app
    from app.config import ConfigError

    with pytest.raises(ConfigError, match=message):
        create_app({**app_config, "TESTING": False, "PRODUCTION": "1", "JWT_SECRET": secret})


def test_an_empty_secret_is_refused_outside_production_too(app_config):
    from app import create_app
    from app.config import ConfigError

    development = {"PRODUCTION": "0", "TESTING": False}
    with pytest.raises(ConfigError, match="MITO_JWT_SECRET is empty"):
        create_app({**app_config, **development, "JWT_SECRET": ""})
    assert (
        create_app({**app_config, **development, "JWT_SECRET": "short"}).config["JWT_SECRET_KEY"] == "short"
    )


def test_production_accepts_a_32_byte_secret(app_config):
    from app import create_app

    app = create_app({**app_config, "TESTING": False, "PRODUCTION": "1", "JWT_SECRET": "s" * 32})
    assert app.config["JWT_SECRET_KEY"] == "s" * 32


def _prepare(app_config, **settings):
    from app.server import prepare

    keys = ("DB_URL", "DATA_DIR", "JWT_SECRET", "SHUTDOWN_SECRET", "CONFIG_FILE")
    return prepare({**{k: app_config[k] for k in keys}, "PRODUCTION": "1", **settings}, migrate=False)


def test_production_refuses_to_start_while_the_admin_has_the_default_password(app, app_config, client):
    from app.config import ConfigError

    with pytest.raises(ConfigError, match=f"the admin {ADMIN_USER} has the default password"):
        _prepare(app_config, ADMIN_PASSWORD="a-strong-configured-password")
    headers = {"Authorization": f"Bearer {_login(client, 'mitosis_admin')}"}
    body = {"old_md5_password": md5_list("mitosis_admin"), "new_md5_password": md5_list("n3w-Strong")}
    assert client.post(f"/users/{ADMIN_USER}/password", json=body, headers=headers).status_code == 200
    assert _prepare(app_config)["DB_URL"] == app_config["DB_URL"]  # the configured default no longer matters


def test_production_refuses_to_create_the_admin_with_the_default_password(app, app_config):
    from app.config import ConfigError

    with pytest.raises(ConfigError, match="the admin newroot would be created with the default password"):
        _prepare(app_config, ADMIN_USER="newroot")
    _prepare(app_config, ADMIN_USER="newroot", ADMIN_PASSWORD="a-strong-configured-password")
    _prepare(app_config, ADMIN_USER="newroot", PRODUCTION="0")


def test_mito_coordinator_in_production_exits_with_a_clear_error(app, db_url, tmp_path):
    env = coordinator_env(db_url, tmp_path, MITO_PRODUCTION="1")
    proc = subprocess.run(
        [sys.executable, "-m", "mito", "coordinator", "--bind", "127.0.0.1:0", "--no-migrate"],
        env=env, cwd=str(ROOT), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert f"Error: the admin {ADMIN_USER} has the default password, refused in production" in proc.stderr
    assert "Traceback" not in proc.stderr


def _login(client, password: str) -> str:
    body = {"username": ADMIN_USER, "md5_password": md5_list(password), "retain": True}
    resp = client.post("/login", json=body)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["token"]


@pytest.mark.parametrize("with_exp", [True, False])
def test_a_token_without_exp_is_refused(app, client, with_exp):
    import jwt as pyjwt

    claims = pyjwt.decode(_login(client, "mitosis_admin"), TEST_JWT_SECRET, algorithms=["HS256"])
    if not with_exp:
        del claims["exp"]
    token = pyjwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256")
    resp = client.get("/auth", headers={"Authorization": f"Bearer {token}"})
    if with_exp:
        assert resp.status_code == 200
    else:
        assert resp.status_code == 401
        assert resp.get_json() == {
            "error": "Authentication error: Invalid token",
            "msg": "Authentication error: Invalid token",
        }
