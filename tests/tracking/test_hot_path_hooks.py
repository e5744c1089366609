"""What the tracking endpoints skip: the UI's cookie session and Flask-Limiter's hooks. They
answer as before, touch no cookie, and leave the UI's session and the login limit working."""
from flask import Blueprint

from app.extensions import limiter
from app.ingest import ingest
from tests.conftest import PASSWORD, make_app

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:79.0) Gecko/20100101 Firefox/79.0"


def _tracking_requests(client, site):
    yield client.get("/count?p=/hello", headers={"Host": "example.com", "User-Agent": FIREFOX})
    yield client.post("/api/collect", headers={"User-Agent": FIREFOX}, json={
        "type": "pageview", "payload": {"website": site.uuid, "url": "/docs"}})
    yield client.post("/collect", json={"path": "/basic"},
                      headers={"Origin": "https://example.com", "User-Agent": FIREFOX})


def test_tracking_answers_set_no_cookie_and_keep_the_ui_session(logged_in, db, site):
    assert logged_in.get_cookie("session") is not None
    for response in _tracking_requests(logged_in, site):
        assert response.status_code in (200, 204), response.data
        assert "Set-Cookie" not in response.headers
        assert "Cookie" not in response.headers.get("Vary", "")
    assert ingest().flush() == 3  # every answer still pushed its hit
    response = logged_in.get("/sites")  # still logged in
    assert response.status_code == 200


def test_ui_pages_keep_their_cookie_session(client, user):
    response = client.post("/login", data={"username": user.username, "password": PASSWORD})
    assert response.status_code == 302
    assert "session=" in response.headers["Set-Cookie"]
    assert "Cookie" in client.get("/sites").headers["Vary"]


def test_tracking_is_never_rate_limited_and_the_login_limit_still_applies(new_client, user, site):
    attacker = new_client(REMOTE_ADDR="203.0.113.7")
    for attempt in range(20):
        attacker.post("/login", data={"username": "alice", "password": f"guess {attempt}"})
    assert attacker.post("/login", data={"username": "alice", "password": PASSWORD}).status_code == 429
    for response in _tracking_requests(attacker, site):
        assert response.status_code in (200, 204), response.data
    assert attacker.post("/login", data={"username": "alice", "password": PASSWORD}).status_code == 429
    assert ingest().flush() == 3


def test_limits_still_apply_outside_the_tracking_blueprint(database_url, tmp_path):
    """A blueprint-wide limit (checked by Flask-Limiter's request hook, as API families' limits
    would be) is enforced as usual."""
    app = make_app(database_url, tmp_path, RATELIMIT_KEY_PREFIX="ibex-rl-test-hooks")
    api = Blueprint("limited_api", __name__)

    @api.get("/api/v0/limited")
    def limited():
        return {"ok": True}

    limiter.limit("2 per minute")(api)
    app.register_blueprint(api)
    client = app.test_client()
    assert [client.get("/api/v0/limited").status_code for _ in range(3)] == [200, 200, 429]
