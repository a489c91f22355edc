"""Every operation whose request body is required (in the spec or in what we serve) answers 400 without one.

Before, a missing body parsed as an empty one: `POST /tasks/cancel` with no body cancelled every task of
the caller's personal group (issue #12 item 9).
"""

from __future__ import annotations

import pytest

from tests.builders import make_worker
from tests.conftest import ADMIN_USER
from tests.helpers import db_snapshot
from tests.test_contract import _spec_file, normalise_path

METHODS = ("get", "put", "post", "delete", "patch")
TASK = {"group_name": ADMIN_USER, "tags": [], "labels": [], "timeout": "10m", "priority": 0,
        "task_spec": {"args": ["true"]}}  # fmt: skip
PATH_VALUES = {
    "username": ADMIN_USER,
    "group_name": ADMIN_USER,
    "uuid": "00000000-0000-4000-8000-000000000001",
    "name": "no-such-campaign",
}


def _required_body_operations(doc: dict) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(METHOD, normalised path) -> (operationId, path, security scheme) of each required-body operation."""
    found = {}
    for path, item in doc["paths"].items():
        for method in METHODS:
            op = item.get(method)
            if not op or not op.get("requestBody", {}).get("required"):
                continue
            security = op.get("security", doc.get("security")) or [{}]
            scheme = next(iter(security[0]), "none") if op["operationId"] != "userLogin" else "none"
            found[(method.upper(), normalise_path(path))] = (op["operationId"], path, scheme)
    return found


def _operations(app) -> list[tuple[str, str, str, str]]:
    import yaml

    spec = _required_body_operations(yaml.safe_load(_spec_file().read_text()))
    served = _required_body_operations(app.test_client().get("/openapi.json").get_json())
    merged = {**served, **spec}
    return sorted((op_id, method, path, scheme) for (method, _), (op_id, path, scheme) in merged.items())


def _url(path: str) -> str:
    for name, value in PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    assert "{" not in path, f"no value for a parameter of {path}"
    return path


def test_every_required_body_operation_answers_400_without_a_body(app, client, users):
    users.create("alice")
    headers = {
        "bearerAuth": users.headers(ADMIN_USER),
        "workerAuth": {"Authorization": f"Bearer {make_worker(app, ADMIN_USER, {ADMIN_USER: 'Write'})}"},
        "none": {},
    }
    assert client.post("/tasks", json=TASK, headers=headers["bearerAuth"]).status_code == 200
    operations = _operations(app)
    assert len(operations) >= 36  # the spec alone has 36
    before = db_snapshot(app)
    app.config["SHUTDOWN_HOOK"] = lambda: pytest.fail("shutdown initiated by a bodyless request")
    wrong = []
    try:
        for op_id, method, path, scheme in operations:
            for content_type in (None, "application/json"):
                resp = client.open(
                    _url(path), method=method, headers=headers[scheme], content_type=content_type
                )
                body = resp.get_json(silent=True) or {}
                if resp.status_code != 400 or not body.get("msg") or body.get("error") != body.get("msg"):
                    wrong.append(f"{op_id} {method} {path} ({content_type}): {resp.status_code} {body}")
    finally:
        del app.config["SHUTDOWN_HOOK"]
    assert not wrong, "\n".join(wrong)
    assert db_snapshot(app) == before


def test_bodyless_cancel_by_filter_cancels_nothing(app, client, users):
    headers = users.headers(ADMIN_USER)
    resp = client.post("/tasks", json=TASK, headers=headers)
    assert resp.status_code == 200
    task = resp.get_json()["uuid"]
    resp = client.post("/tasks/cancel", headers=headers)
    assert resp.status_code == 400
    assert resp.get_json()["msg"] == "Invalid request: body: a JSON body is required"
    assert client.get(f"/tasks/{task}", headers=headers).get_json()["info"]["state"] == "Ready"
