"""The per-IP limit on the Basic family's POST /collect (spec/basic.md "Rate limiting"):
generous, in the Basic error shape when exceeded, shared by every node through Redis."""
import redis as redis_lib

from tests.conftest import make_app

PAGE = {"Origin": "https://example.com", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}


def post(client, ip="203.0.113.9"):
    return client.post("/collect", json={"path": "/a"}, headers=PAGE,
                       environ_base={"REMOTE_ADDR": ip})


def test_collect_is_limited_per_ip(database_url, tmp_path, site):
    app = make_app(database_url, tmp_path, COLLECT_RATE_LIMIT="3/60")
    client = app.test_client()
    assert [post(client).status_code for _ in range(3)] == [204, 204, 204]
    refused = post(client)
    assert refused.status_code == 429
    assert refused.get_json() == {"error": "too many requests"}
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["Access-Control-Allow-Origin"] == "https://example.com"
    assert post(client, ip="203.0.113.10").status_code == 204  # another visitor
    assert all(post(client, ip="127.0.0.1").status_code == 204 for _ in range(5))  # loopback


def test_collect_limit_off(database_url, tmp_path, site):
    client = make_app(database_url, tmp_path, COLLECT_RATE_LIMIT="none").test_client()
    assert {post(client).status_code for _ in range(20)} == {204}


def test_collect_limit_is_shared_through_redis(database_url, tmp_path, site, redis_url):
    url, prefix = redis_url
    env = {"REDIS_URL": url, "RATELIMIT_KEY_PREFIX": prefix, "COLLECT_RATE_LIMIT": "2/60"}
    node_a, node_b = make_app(database_url, tmp_path, **env), make_app(database_url, tmp_path, **env)
    assert post(node_a.test_client()).status_code == 204
    assert post(node_b.test_client()).status_code == 204
    assert post(node_a.test_client()).status_code == 429
    assert redis_lib.Redis.from_url(url).keys(f"*{prefix}*collect*")
