"""API docs: /openapi.json is a valid OpenAPI document and /docs needs nothing but the coordinator."""

from __future__ import annotations

import re

from openapi_spec_validator import validate


def test_served_openapi_document_validates(client):
    resp = client.get("/openapi.json")
    assert resp.status_code == 200
    validate(resp.get_json())  # raises OpenAPIValidationError with the offending path


def test_shutdown_op_default_is_one_of_its_documented_values(client):
    doc = client.get("/openapi.json").get_json()
    params = [
        p for item in doc["paths"].values() for op in item.values() if isinstance(op, dict)
        for p in op.get("parameters", []) if p["name"] == "op"
    ]  # fmt: skip
    assert params, "no `op` query parameter served"
    for param in params:
        assert param["schema"]["default"] in param["schema"]["enum"], param


def test_docs_page_assets_are_all_served_by_the_coordinator(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert {a.rsplit("/", 1)[-1] for a in assets} >= {
        "swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
    }  # fmt: skip
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), f"{url} is not served by the coordinator"
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert len(resp.get_data()) > 1000, url
        expected = "text/css" if url.endswith(".css") else "javascript"
        assert expected in resp.mimetype, (url, resp.mimetype)
    spec_url = re.search(r'url: "([^"]+)"', html).group(1)
    assert client.get(spec_url).status_code == 200
