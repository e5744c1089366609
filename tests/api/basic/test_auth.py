"""Every Basic API endpoint needs a valid Bearer token: 401 {"error": "unauthorized"} without
one, with an unknown or a revoked one; the token's owner must be an admin."""
import pytest

from app import accounts

ENDPOINTS = [("post", "/api/sites", {"domain": "x.example"}), ("get", "/api/sites", None),
             ("delete", "/api/sites/example.com", None),
             ("post", "/api/ignore", {"ip": "10.0.0.1"}), ("get", "/api/ignore", None),
             ("delete", "/api/ignore/10.0.0.1", None), ("get", "/api/tokens", None),
             ("delete", "/api/tokens/999", None), ("get", "/api/stats", None),
             ("get", "/api/stats?verbose=true", None),
             ("post", "/api/tokens/generate", None)]


def call(client, method, path, body, headers):
    return getattr(client, method)(path, json=body, headers=headers)


@pytest.fixture
def revoked(user):
    token, secret = accounts.create_token(user, "old")
    accounts.revoke_token(token)
    return secret


def test_requests_without_a_valid_token_are_unauthorized(client, db, secret, revoked, site):
    bad_headers = [{}, {"Authorization": "Bearer"}, {"Authorization": "Bearer nope"},
                   {"Authorization": f"Bearer {revoked}"}, {"Authorization": secret},
                   {"Authorization": f"Token {secret}"}, {"Authorization": "Bearer a b"}]
    for method, path, body in ENDPOINTS:
        for headers in bad_headers:
            response = call(client, method, path, body, headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.json == {"error": "unauthorized"}
    # Nothing happened.
    assert [s.cname for s in accounts.active_sites()] == ["example.com"]
    assert accounts.global_ignored_ips() == []


def test_a_valid_token_passes_everywhere(client, auth, site):
    for method, path, body in ENDPOINTS:
        response = call(client, method, path, body, auth)
        assert response.status_code in (200, 201, 204, 404), (method, path, response.json)
        if response.status_code == 404:  # no token 999
            assert path == "/api/tokens/999" and response.json == {"error": "token not found"}


def test_tokens_of_a_user_who_is_no_longer_admin_stop_working(client, db, user, auth):
    assert client.get("/api/sites", headers=auth).status_code == 200
    accounts.update_user(user, role="r")
    response = client.get("/api/sites", headers=auth)
    assert (response.status_code, response.json) == (401, {"error": "unauthorized"})


def test_permission_bits_are_checked(client, user, site):
    _t, counter = accounts.create_token(user, "count only", accounts.permission_bits(["count"]))
    headers = {"Authorization": f"Bearer {counter}"}
    for method, path, body in ENDPOINTS:
        response = call(client, method, path, body, headers)
        assert response.status_code == 403, (method, path)
        assert set(response.json) == {"error"} and response.json["error"]
    _t, stats = accounts.create_token(user, "stats", accounts.permission_bits(["stats"]))
    assert client.get("/api/stats", headers={"Authorization": f"Bearer {stats}"}).status_code \
        == 200


def test_basic_auth_with_the_token_as_password_works_too(client, secret):
    response = client.get("/api/sites", auth=("anything", secret))
    assert response.status_code == 200
