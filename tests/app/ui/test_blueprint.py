"""The dashboard's shell and assets as the coordinator serves them (no browser: see tests/integration/ui)."""

from __future__ import annotations

import json
import re

from app.ui import blp
from mito.vocab import ArtifactContentType, Role, TaskState


def test_ui_without_slash_redirects_to_the_page(client):
    resp = client.get("/ui")
    assert resp.status_code in (301, 308)
    assert resp.headers["Location"].endswith("/ui/")


def test_page_embeds_the_shared_vocabulary(client):
    resp = client.get("/ui/")
    assert resp.status_code == 200 and resp.mimetype == "text/html"
    match = re.search(
        r'<script type="application/json" id="mito-vocab">(.*?)</script>', resp.get_data(as_text=True)
    )
    vocab = json.loads(match.group(1))
    assert vocab["TaskState"] == [s.name for s in TaskState]
    assert vocab["CancellableTaskState"] == ["Pending", "Ready", "Running"]
    assert vocab["Role"] == [r.name for r in sorted(Role)]
    assert vocab["ArtifactContentType"] == [t.wire for t in ArtifactContentType]


def test_page_is_served_with_a_strict_content_security_policy(client):
    csp = client.get("/ui/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'self'" in csp and "unsafe-inline" not in csp


def test_csp_allows_the_s3_endpoint_for_output_previews(app_config):
    from app import create_app

    app = create_app({**app_config, "S3_URL": "http://127.0.0.1:9000", "BOOTSTRAP_ADMIN": False})
    csp = app.test_client().get("/ui/").headers["Content-Security-Policy"]
    assert "connect-src 'self' http://127.0.0.1:9000;" in csp


def test_every_asset_the_page_names_is_served(client):
    html = client.get("/ui/").get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="(static/[^"?]+)', html)
    assert {"static/css/mito.css", "static/js/main.js", "static/vendor/blueimp-md5-2.19.0.min.js"} <= set(
        assets
    )
    for asset in assets:
        resp = client.get(f"/ui/{asset}")
        assert resp.status_code == 200, asset
        resp.close()


def test_every_module_the_scripts_import_is_shipped():
    folder = blp.static_folder
    from pathlib import Path

    js = Path(folder) / "js"
    for script in js.rglob("*.js"):
        for target in re.findall(r'from "(\.[^"]+)"', script.read_text()):
            assert (script.parent / target).resolve().is_file(), f"{script.name} imports missing {target}"


def test_unknown_asset_is_a_json_404(client):
    resp = client.get("/ui/static/js/nope.js")
    assert resp.status_code == 404
    assert set(resp.get_json()) >= {"error", "msg"}
