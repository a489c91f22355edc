"""The SDK's campaign operations against the served OpenAPI document (extension tag Campaigns)."""

from __future__ import annotations

from client.sdk import EXTENSION_OPERATIONS, Mitosis

EXTENSION_TAGS = {"Campaigns", "Explain", "LiveOutput"}


def test_every_served_extension_operation_has_an_sdk_method(app):
    doc = app.test_client().get("/openapi.json").get_json()
    served = {
        op["operationId"]
        for item in doc["paths"].values()
        for method, op in item.items()
        if method != "parameters" and EXTENSION_TAGS & set(op.get("tags", []))
    }
    assert served == set(EXTENSION_OPERATIONS)
    for method in EXTENSION_OPERATIONS.values():
        assert callable(getattr(Mitosis, method)), method
