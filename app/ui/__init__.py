"""The web dashboard at /ui: a static single-page app, shipped in the package, that is only a client.

The page holds no server-side logic of its own: its scripts call the same REST API as the CLI, with the
user's JWT, so every rule and refusal comes from the services. The coordinator serves one HTML shell (with
the shared vocabulary of `mito.vocab` embedded as JSON, so the scripts never spell a state or role that
the server does not know) and the static assets under /ui/static; every asset is in this package, pinned
(static/vendor/VERSIONS), so the dashboard works offline. A strict Content-Security-Policy allows scripts,
styles and connections to this origin only (plus the S3 endpoint, whose presigned URLs the browser may
read to show a task's output).
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import urlsplit

from flask import Blueprint, Flask, Response, current_app, render_template

from app.services import lifecycle
from mito.vocab import ArtifactContentType, ExecState, Role, ShutdownOp, TaskState, UserState, WorkerState

blp = Blueprint(
    "ui", __name__, url_prefix="/ui", static_folder="static", template_folder="templates"
)  # fmt: skip


@cache
def vocabulary() -> dict:
    """The names the dashboard may compare against, from the one vocabulary (`mito.vocab`)."""
    return {
        "TaskState": [s.name for s in TaskState],
        # the lifecycle's own rule: the states a user's cancel applies to
        "CancellableTaskState": [s.name for s in lifecycle.sources(lifecycle.Event.UserCancel)],
        "ExecState": [s.name for s in ExecState],
        "Role": [r.name for r in sorted(Role)],  # ordered: a role includes the ones before it
        "WorkerState": [s.name for s in WorkerState],
        "UserState": [s.name for s in UserState],
        "ShutdownOp": [op.name for op in ShutdownOp],
        "ArtifactContentType": [t.wire for t in ArtifactContentType],
    }


def _asset_version() -> str:
    try:
        return version("mitosis")
    except PackageNotFoundError:
        return "dev"


@blp.route("/")
def index():
    """The dashboard's single page; the scripts route by the URL fragment (#/tasks, #/task/UUID ...)."""
    return render_template("ui/index.html", vocab=vocabulary(), asset_version=_asset_version())


@blp.after_request
def _security_headers(resp: Response) -> Response:
    connect = ["'self'"]
    if current_app.config.get("S3_URL"):
        parts = urlsplit(current_app.config["S3_URL"])
        connect.append(f"{parts.scheme}://{parts.netloc}")
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        f"connect-src {' '.join(connect)}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Referrer-Policy"] = "no-referrer"
    return resp


def init_app(app: Flask) -> None:
    """Serve the dashboard at /ui (and /ui/ with its assets)."""
    app.register_blueprint(blp)
