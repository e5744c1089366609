"""Login rate limiting on the production path: counters live in Redis, so every web process
(node) shares them."""
import redis as redis_lib

from app import accounts
from app.extensions import db
from tests.conftest import PASSWORD, make_app


def _login(client, password):
    return client.post("/login", data={"username": "alice", "password": password})


def test_failed_logins_are_limited_across_nodes_through_redis(database_url, tmp_path, redis_url):
    url, prefix = redis_url
    env = {"REDIS_URL": url, "RATELIMIT_KEY_PREFIX": prefix, "LOGIN_RATE_LIMIT": "3 per minute"}
    node_a = make_app(database_url, tmp_path, **env)
    with node_a.app_context():
        accounts.create_user("alice", PASSWORD)
    try:
        client_a = node_a.test_client()
        for _ in range(3):
            response = _login(client_a, "wrong password")
            assert response.status_code == 401, (_, response.data[:300])
        assert redis_lib.Redis.from_url(url).keys(f"*{prefix}*"), "counters are kept in Redis"

        node_b = make_app(database_url, tmp_path, **env)  # another gunicorn node
        blocked = _login(node_b.test_client(), PASSWORD)
        assert blocked.status_code == 429
        assert 1 <= int(blocked.headers["Retry-After"]) <= 60
        assert b"Too many attempts" in blocked.data
    finally:
        with node_a.app_context():
            db.session.execute(db.text("DELETE FROM users"))
            db.session.commit()
            db.engine.dispose()


def test_successful_logins_do_not_use_up_the_budget(database_url, tmp_path, redis_url):
    url, prefix = redis_url
    app = make_app(database_url, tmp_path, REDIS_URL=url, RATELIMIT_KEY_PREFIX=prefix,
                   LOGIN_RATE_LIMIT="2 per minute")
    with app.app_context():
        accounts.create_user("alice", PASSWORD)
    try:
        for _ in range(5):
            client = app.test_client()
            assert _login(client, PASSWORD).status_code == 302
    finally:
        with app.app_context():
            db.session.execute(db.text("DELETE FROM users"))
            db.session.commit()
            db.engine.dispose()
