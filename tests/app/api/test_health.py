def test_health_returns_ok(client):
    resp = client.get("/health")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_unknown_route_returns_404_in_error_shape(client):
    resp = client.get("/no/such/route")
    assert resp.status_code == 404
    body = resp.get_json()
    assert body["error"] == body["msg"]


def test_wrong_method_returns_405_in_error_shape(client):
    resp = client.delete("/health")
    assert resp.status_code == 405
    assert "msg" in resp.get_json()
