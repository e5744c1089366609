"""Odd input never makes the Umami API answer 500: huge ids, wrong JSON types, bodies that are
not objects — each gets Umami's plain-text 4xx."""
import pytest

BIG = 10 ** 30


@pytest.mark.parametrize("method, path, body", [
    ("get", f"/api/website/{BIG}", None),
    ("get", f"/api/website/{BIG}/stats?start_at=0&end_at=1", None),
    ("get", f"/api/websites?user_id={BIG}", None),
    ("get", f"/api/account/{BIG}", None),
    ("post", "/api/website", {"website_id": BIG, "name": "x"}),
    ("post", "/api/website", {"website_id": True, "name": "x"}),
    ("post", "/api/website", [1, 2]),
    ("post", "/api/website", "text"),
    ("post", "/api/website", {"name": "x" * 5000, "domain": "x.example"}),
    ("post", "/api/website", {"name": "ok", "domain": "x" * 600}),
    ("post", "/api/website", {"name": "ok", "domain": "ok.example", "enable_share_url": {}}),
    ("post", "/api/account", {"user_id": BIG}),
    ("post", "/api/account", {"username": ["x"], "password": "y" * 10}),
    ("post", "/api/account", {"username": "x" * 300, "password": "y" * 10}),
    ("post", "/api/account", {"username": "new", "password": 12345678}),
    ("post", "/api/account/password", {"user_id": BIG, "current_password": "a",
                                       "new_password": "b"}),
    ("post", "/api/auth/login", {"username": "alice", "password": "x" * 5000}),
    ("post", "/api/auth/login", {"username": "alice\u0000", "password": "y"}),
    ("get", "/api/realtime/update?start_at=abc", None),
    ("get", "/api/share/%00", None),
    ("get", "/api/website/1/stats?start_at=0&end_at=1&url=%2500", None),
    ("post", "/api/website", {"name": "a\u0000", "domain": "ok.example"}),
])
def test_no_500(client, user, token, method, path, body):
    response = getattr(client, method)(path, json=body) if body is not None else \
        getattr(client, method)(path)
    assert 400 <= response.status_code < 500, (response.status_code, response.data)
    assert b"Traceback" not in response.data


def test_range_extremes(client, user, token, owned_site):
    for query in ("start_at=0&end_at=253370764799999", "start_at=5&end_at=1"):
        response = client.get(f"/api/website/{owned_site.id}/stats?{query}")
        assert response.status_code == 200, response.data
        response = client.get(f"/api/website/{owned_site.id}/pageviews?{query}&unit=year&tz=UTC")
        assert response.status_code == 200, response.data
