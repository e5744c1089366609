"""GoatCounter's rate limits (spec §3): the api/api2, api-count and export buckets of /api/v0,
the count bucket of /count, their X-Rate-Limit headers, the 429 and its Retry-After, and
GOATCOUNTER_RATE_LIMITS — with memory storage (the embedded default) and with a real Redis
shared by two app instances (production nodes)."""
import re

import pytest
import redis as redis_lib

import config
from app import accounts, ratelimits
from app.extensions import db
from app.ingest import ingest
from tests.conftest import make_app

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:79.0) Gecko/20100101 Firefox/79.0"
CLIENT = {"REMOTE_ADDR": "198.51.100.7"}


WINDOW_START = 1_800_000_000  # a multiple of 3600 (and so of every window used here)


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


@pytest.fixture
def limited_app(database_url, tmp_path):
    """An app with small buckets (memory storage) and a site and token in it."""
    apps = []

    def make(limits="api:3/60,api2:100/3600,api-count:2/120,export:1/3600,count:2/60", **env):
        app = make_app(database_url, tmp_path, GOATCOUNTER_RATE_LIMITS=limits, **env)
        # A moment 10.25 s into every bucket's window, so a test never straddles two windows.
        app.extensions[ratelimits.EXTENSION].clock = Clock(WINDOW_START + 10.25)
        apps.append(app)
        return app
    yield make
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.session.execute(db.text("DELETE FROM api_tokens"))
            db.session.execute(db.text("DELETE FROM ignored_ips"))
            db.session.execute(db.text("DELETE FROM sites"))
            db.session.execute(db.text("DELETE FROM users"))
            db.session.commit()
            db.engine.dispose()


def _seed(app):
    with app.app_context():
        user = accounts.create_user("alice", "correct horse battery", role="a")
        accounts.create_site("example.com")
        _, secret = accounts.create_token(user, "t")
    return {"Authorization": f"Bearer {secret}"}


def _client(app, **environ):
    client = app.test_client()
    client.environ_base.update({**CLIENT, **environ})
    return client


def _headers(response):
    return tuple(int(response.headers[f"X-Rate-Limit-{name}"])
                 for name in ("Limit", "Remaining", "Reset"))


def test_api_headers_count_down_then_429(limited_app):
    app = limited_app()
    auth = _seed(app)
    client = _client(app)
    seen = []
    for _ in range(3):
        response = client.get("/api/v0/me", headers=auth)
        assert response.status_code == 200
        seen.append(_headers(response))
    assert [(limit, remaining) for limit, remaining, _ in seen] == [(3, 2), (3, 1), (3, 0)]
    assert all(reset == 50 for _, _, reset in seen)
    blocked = client.get("/api/v0/me", headers=auth)
    assert blocked.status_code == 429
    limit, remaining, reset = _headers(blocked)
    assert (limit, remaining) == (3, 0) and 1 <= reset <= 60
    assert blocked.headers["Retry-After"] == str(reset)
    assert blocked.mimetype == "text/plain"
    text = blocked.get_data(as_text=True)
    assert re.fullmatch(r"rate limited exceeded; try again in (\d+m)?\d+(\.\d+)?s\n", text), text


def test_429_body_is_json_when_the_request_is_json(limited_app):
    app = limited_app("api:1/60")
    client = _client(app)
    client.get("/api/v0/me")
    blocked = client.get("/api/v0/me", headers={"Content-Type": "application/json; charset=utf-8"})
    assert blocked.status_code == 429 and blocked.mimetype == "application/json"
    assert blocked.get_json()["error"].startswith("rate limited exceeded; try again in ")


def test_limits_apply_before_authentication_and_to_404_405_options(limited_app):
    app = limited_app("api:4/60")
    client = _client(app)
    responses = [client.get("/api/v0/me"), client.get("/api/v0/nope"),
                 client.delete("/api/v0/me"), client.options("/api/v0/me")]
    assert [r.status_code for r in responses] == [401, 404, 405, 200]
    assert [_headers(r)[1] for r in responses] == [3, 2, 1, 0]
    assert client.get("/api/v0/nope").status_code == 429


def test_api2_is_checked_first_and_reported_when_it_fails(limited_app):
    app = limited_app("api:10/60,api2:2/3600")
    client = _client(app)
    first = client.get("/api/v0/nope")
    assert _headers(first)[:2] == (10, 9)  # both pass: the api bucket is reported
    client.get("/api/v0/nope")
    blocked = client.get("/api/v0/nope")
    assert blocked.status_code == 429
    limit, remaining, reset = _headers(blocked)
    assert (limit, remaining) == (2, 0) and 1 <= reset <= 3600  # windows align to the epoch


def test_buckets_are_independent(limited_app):
    app = limited_app("api:1/60,api-count:2/120,export:1/3600")
    client = _client(app)
    assert client.get("/api/v0/me").status_code == 401
    assert client.get("/api/v0/me").status_code == 429
    # /api/v0/count and /api/v0/export have buckets of their own.
    counted = [client.post("/api/v0/count", json={}) for _ in range(3)]
    assert [r.status_code for r in counted] == [401, 401, 429]
    assert _headers(counted[0])[:2] == (2, 1)
    exported = [client.post("/api/v0/export", json={}) for _ in range(2)]
    assert [r.status_code for r in exported] == [401, 429]
    assert _headers(exported[0])[:2] == (1, 0)
    # /api/v0/export/{id} is in the general API buckets (exhausted above), not in export's.
    assert _headers(client.get("/api/v0/export/1"))[0] == 1


def test_clients_are_counted_by_ip(limited_app):
    app = limited_app("api:1/60")
    first, second = _client(app), _client(app, REMOTE_ADDR="198.51.100.8")
    assert first.get("/api/v0/me").status_code == 401
    assert first.get("/api/v0/me").status_code == 429
    assert second.get("/api/v0/me").status_code == 401


def test_415_of_a_non_json_body_is_not_counted(limited_app):
    app = limited_app("api:1/60")
    client = _client(app)
    for _ in range(3):
        response = client.put("/api/v0/sites", data=b"x=1", content_type="text/plain")
        assert response.status_code == 415 and "X-Rate-Limit-Limit" not in response.headers
    assert client.get("/api/v0/me").status_code == 401


def test_none_turns_a_bucket_off(limited_app):
    app = limited_app("api:none,api2:none")
    client = _client(app)
    for _ in range(10):
        response = client.get("/api/v0/me")
        assert response.status_code == 401 and "X-Rate-Limit-Limit" not in response.headers
    assert _headers(client.post("/api/v0/count", json={}))[0] == 60  # the others keep defaults


def test_ratelimit_enabled_false_turns_everything_off(limited_app):
    app = limited_app("api:1/60", RATELIMIT_ENABLED="false")
    client = _client(app)
    assert [client.get("/api/v0/me").status_code for _ in range(3)] == [401, 401, 401]


def test_status_and_other_families_are_not_limited(limited_app):
    app = limited_app("api:1/60")
    client = _client(app)
    for _ in range(3):
        assert client.get("/status").status_code == 200
        assert "X-Rate-Limit-Limit" not in client.get("/api/sites").headers


# --- /count ----------------------------------------------------------------------------------

def test_count_is_limited_per_ip_and_user_agent(limited_app):
    app = limited_app()
    _seed(app)
    client = _client(app)
    pixel = [client.get("/count?p=/x", headers={"User-Agent": FIREFOX, "Host": "example.com"})
             for _ in range(3)]
    assert [r.status_code for r in pixel] == [200, 200, 429]
    assert [_headers(r)[:2] for r in pixel] == [(2, 1), (2, 0), (2, 0)]
    assert pixel[2].headers["Retry-After"] == str(_headers(pixel[2])[2])
    assert pixel[2].get_data(as_text=True).startswith("rate limited exceeded; try again in ")
    other_agent = client.get("/count?p=/x", headers={"User-Agent": "curl/8", "Host": "example.com"})
    assert other_agent.status_code == 200
    with app.app_context():
        assert ingest().flush() == 3  # the refused hit was not recorded


def test_count_from_loopback_is_not_limited(limited_app):
    app = limited_app()
    _seed(app)
    client = _client(app, REMOTE_ADDR="127.0.0.1")
    for _ in range(5):
        response = client.get("/count?p=/x", headers={"User-Agent": FIREFOX})
        assert response.status_code == 200 and "X-Rate-Limit-Limit" not in response.headers


# --- configuration ---------------------------------------------------------------------------

def test_defaults_are_goatcounters():
    assert config.goatcounter_rate_limits("") == {
        "api": (4, 1), "api2": (500, 3600), "api-count": (60, 120), "export": (1, 3600),
        "count": (4, 1)}
    production = config.ProductionConfig(env={})
    assert production.GOATCOUNTER_RATE_LIMITS["api"] == (4, 1)


def test_config_overrides_named_buckets_only():
    parsed = config.goatcounter_rate_limits(" api : 10/2 , export:none,count:NONE")
    assert parsed["api"] == (10, 2) and parsed["export"] is None and parsed["count"] is None
    assert parsed["api2"] == (500, 3600)


@pytest.mark.parametrize("text", ["api", "api:4", "api:x/1", "api:0/1", "api:4/0", "nope:1/1",
                                  "api:-1/5", "api:4/1.5"])
def test_config_rejects_bad_settings(text):
    with pytest.raises(RuntimeError, match="GOATCOUNTER_RATE_LIMITS"):
        config.goatcounter_rate_limits(text)


@pytest.mark.parametrize("seconds, text", [(0.812, "812ms"), (1.5, "1.5s"), (59, "59s"),
                                           (3599, "59m59s"), (3600, "1h0m0s"), (61.25, "1m1.25s"),
                                           (0, "0ms")])
def test_durations_are_written_as_go_does(seconds, text):
    assert ratelimits.go_duration(seconds) == text


# --- Redis: counters shared between nodes ----------------------------------------------------

def test_redis_counters_are_shared_between_nodes(limited_app, redis_url):
    url, prefix = redis_url
    env = {"REDIS_URL": url, "RATELIMIT_KEY_PREFIX": prefix}
    node_a = limited_app("api:3/60", **env)
    node_b = limited_app("api:3/60", **env)
    a, b = _client(node_a), _client(node_b)
    assert [_headers(r)[1] for r in (a.get("/api/v0/me"), b.get("/api/v0/me"),
                                     a.get("/api/v0/me"))] == [2, 1, 0]
    blocked = b.get("/api/v0/me", headers={"Content-Type": "application/json"})
    assert blocked.status_code == 429
    assert blocked.get_json()["error"].startswith("rate limited exceeded")
    assert int(blocked.headers["Retry-After"]) <= 60
    keys = redis_lib.Redis.from_url(url).keys(f"*{prefix}*")
    assert keys and all(b":gc:" in key for key in keys)
    ttl = max(redis_lib.Redis.from_url(url).ttl(key) for key in keys)
    assert 0 < ttl <= 3600


def test_redis_count_bucket(limited_app, redis_url):
    url, prefix = redis_url
    app = limited_app("count:1/60", REDIS_URL=url, RATELIMIT_KEY_PREFIX=prefix, REDIS_PREFIX=prefix)
    _seed(app)
    client = _client(app)
    ok = client.get("/count?p=/a", headers={"User-Agent": FIREFOX, "Host": "example.com"})
    blocked = client.get("/count?p=/a", headers={"User-Agent": FIREFOX, "Host": "example.com"})
    assert (ok.status_code, blocked.status_code) == (200, 429)
    assert _headers(ok)[:2] == (1, 0)


def test_windows_reset(limited_app):
    app = limited_app("api:1/60")
    clock = app.extensions[ratelimits.EXTENSION].clock
    client = _client(app)
    assert client.get("/api/v0/nope").status_code == 404
    blocked = client.get("/api/v0/nope")
    assert blocked.status_code == 429
    assert blocked.headers["Retry-After"] == "50"  # 10.25 s into a 60 s window: 49.75 → 50
    assert blocked.get_data(as_text=True) == "rate limited exceeded; try again in 49.75s\n"
    clock.now += 49.7
    assert client.get("/api/v0/nope").status_code == 429
    clock.now += 0.1
    response = client.get("/api/v0/nope")
    assert response.status_code == 404 and _headers(response) == (1, 0, 60)


def test_unreachable_storage_lets_requests_through(limited_app):
    app = limited_app("api:1/60", REDIS_URL="redis://127.0.0.1:1/0")
    client = _client(app)
    for _ in range(3):
        response = client.get("/api/v0/nope")
        assert response.status_code == 404 and response.headers["X-Rate-Limit-Limit"] == "1"
