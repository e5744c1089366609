"""Error bodies of the Basic family: always {"error": "<short message>"}, also for paths no
route matches, wrong methods and unexpected failures, never a stack trace."""
from app.extensions import db as _db
from tests.conftest import make_app, new_pg_database


def test_unknown_paths_under_the_family_prefixes(client, auth):
    for path in ("/api/sites/example.com/extra", "/api/ignore", "/api/tokens/1/x",
                 "/api/stats/today", "/api/sites/"):
        response = client.get(path, headers=auth) if path != "/api/ignore" else \
            client.put(path, headers=auth)
        assert response.status_code in (404, 405), path
        assert response.mimetype == "application/json"
        expected = "not found" if response.status_code == 404 else "method not allowed"
        assert response.json == {"error": expected}, path


def test_wrong_methods_name_the_allowed_ones(client, auth):
    response = client.put("/api/sites", headers=auth)
    assert (response.status_code, response.json) == (405, {"error": "method not allowed"})
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}
    response = client.get("/api/tokens/generate", headers=auth)
    assert (response.status_code, response.json) == (405, {"error": "method not allowed"})
    response = client.post("/api/stats", headers=auth)
    assert (response.status_code, response.json) == (405, {"error": "method not allowed"})


def test_an_unexpected_failure_is_a_bare_internal_error(database_url, tmp_path):
    """A server whose database has no tables: every request fails inside the view."""
    drop = None
    if database_url.startswith("sqlite"):
        empty = "sqlite:///" + str(tmp_path / "empty.db")
    else:
        empty, drop = new_pg_database()
    broken = make_app(empty, tmp_path)
    client = broken.test_client()
    try:
        for method, path in (("get", "/api/sites"), ("post", "/api/tokens/generate"),
                             ("get", "/api/stats?verbose=true")):
            response = getattr(client, method)(path, headers={"Authorization": "Bearer x"})
            assert response.status_code == 500
            assert response.json == {"error": "internal error"}
            assert b"Traceback" not in response.data and b"api_tokens" not in response.data
    finally:
        with broken.app_context():
            _db.engine.dispose()
        if drop:
            drop()


def test_pages_outside_the_api_keep_html_errors(client):
    response = client.get("/api-sites")
    assert response.status_code == 404 and response.mimetype == "text/html"


def test_rate_limit_answers_429_in_the_family_shape(database_url, tmp_path, app):
    limited = make_app(database_url, tmp_path / "limited", BASIC_API_RATE_LIMIT="3 per minute")
    client = limited.test_client()
    try:
        statuses = [client.get("/api/sites").status_code for _ in range(3)]
        assert statuses == [401, 401, 401]
        response = client.post("/api/tokens/generate")
        assert (response.status_code, response.json) == (429, {"error": "too many requests"})
        # Another client address has its own allowance.
        other = client.get("/api/sites", environ_base={"REMOTE_ADDR": "192.0.2.7"})
        assert other.status_code == 401
    finally:
        with limited.app_context():
            _db.engine.dispose()
