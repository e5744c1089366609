"""GET /status (spec §1.3): no authentication, a JSON object of the server's state,
Access-Control-Allow-Origin: *."""


def test_status_needs_no_authentication(client, db):
    response = client.get("/status")
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["uptime", "version", "database", "go", "GOOS", "GOARCH", "race", "cgo"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cache-Control"] == "no-store,no-cache"
    expected = "SQLite " if db.engine.dialect.name == "sqlite" else "PostgreSQL "
    assert body["database"].startswith(expected) and len(body["database"]) > len(expected)
    assert body["uptime"].endswith("s") and body["race"] is False and body["cgo"] is False
    assert body["go"].startswith("python3") and body["GOOS"]


def test_status_works_on_any_host_and_without_sites(client):
    response = client.get("/status", headers={"Host": "unknown.example"})
    assert response.status_code == 200


def test_status_is_get_only(client):
    assert client.post("/status").status_code == 405
