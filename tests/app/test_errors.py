"""The one error renderer: every failure answers {"error": m, "msg": m} with the right status, never HTML."""

from __future__ import annotations

import json

import pytest

from tests.helpers import db_snapshot


def _assert_error(resp, status):
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert isinstance(body["msg"], str) and body["msg"]
    assert body["error"] == body["msg"]
    return body


def _login_body(md5):
    return {"username": "mitosis_admin", "md5_password": md5("mitosis_admin")}


def test_unknown_route_returns_404(client):
    _assert_error(client.get("/no/such/route"), 404)
    _assert_error(client.post("/groups/x/y/z", json={}), 404)


def test_wrong_method_returns_405(client):
    _assert_error(client.put("/login", json={}), 405)
    _assert_error(client.delete("/users/groups"), 405)


def test_malformed_json_returns_400(client):
    body = _assert_error(client.post("/login", data="{bad", content_type="application/json"), 400)
    assert "errors" in body


def test_invalid_utf8_body_returns_400(client):
    _assert_error(client.post("/login", data=b"\xff\xfe{}", content_type="application/json"), 400)


@pytest.mark.parametrize("payload", ["null", "[]", '"text"', "42", "true"])
def test_json_that_is_not_an_object_returns_400(client, payload):
    _assert_error(client.post("/login", data=payload, content_type="application/json"), 400)


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"]
)
def test_body_with_wrong_content_type_returns_415(client, md5, content_type):
    data = json.dumps(_login_body(md5))
    _assert_error(client.post("/login", data=data, content_type=content_type), 415)


def test_missing_body_returns_400_with_field_details(client):
    body = _assert_error(client.post("/login"), 400)
    assert set(body["errors"]["json"]) == {"username", "md5_password"}


def test_unknown_field_returns_400(client, md5):
    body = _assert_error(client.post("/login", json={**_login_body(md5), "extra": 1}), 400)
    assert body["errors"]["json"] == {"extra": ["Unknown field."]}


def test_oversized_body_returns_413(app, client, md5):
    padding = "x" * app.config["MAX_CONTENT_LENGTH"]
    _assert_error(client.post("/login", json={**_login_body(md5), "username": padding}), 413)


def test_deeply_nested_json_returns_400(client):
    for depth in (400, 100_000):
        data = "[" * depth + "]" * depth
        _assert_error(client.post("/login", data=data, content_type="application/json"), 400)


@pytest.mark.parametrize("name", ["a\u0000b", "\ud800"])
def test_unstorable_strings_in_body_return_400(app, client, users, name):
    headers = users.headers(users.create("alice"))
    before = db_snapshot(app)
    data = json.dumps({"group_name": name})
    _assert_error(client.post("/groups", data=data, content_type="application/json", headers=headers), 400)
    assert db_snapshot(app) == before


def test_unstorable_strings_in_url_return_400(client, users):
    headers = users.headers(users.create("alice"))
    _assert_error(client.get("/groups/a%00b", headers=headers), 400)
    _assert_error(client.delete("/groups/alice/users?users=a%00b", headers=headers), 400)


def test_unexpected_error_returns_generic_500(app_config):
    from app import create_app

    fresh = create_app(app_config)

    @fresh.route("/boom")
    def boom():
        raise RuntimeError("secret detail")

    body = _assert_error(fresh.test_client().get("/boom"), 500)
    assert "secret" not in body["msg"]


def test_integrity_error_returns_409(app_config):
    from app import create_app, db
    from app.models import Group, User

    fresh = create_app(app_config)

    @fresh.route("/dup", methods=["POST"])
    def dup():
        admin = db.session.query(User).first()
        db.session.add(Group(group_name=admin.username, creator_id=admin.id))
        db.session.flush()

    _assert_error(fresh.test_client().post("/dup"), 409)


def test_openapi_json_is_served(client):
    resp = client.get("/openapi.json")
    assert resp.status_code == 200
    doc = resp.get_json()
    assert doc["info"]["title"] == "Mitosis API"
    assert "/login" in doc["paths"]


def test_docs_page_is_served(client):
    resp = client.get("/docs")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    assert b"swagger" in resp.get_data().lower()
