"""Conventions every /api/v0 route follows (spec §1.2–1.4, §4, §4.5): JSON errors whatever the
request's Content-Type, 404 vs 405, OPTIONS and CORS, Cache-Control, the trailing-slash
redirect, the 415 rules and the 500 body."""
import logging
import re

import pytest


def bearer(token):
    return {"Authorization": f"Bearer {token.secret}"}


@pytest.mark.parametrize("content_type", [None, "text/plain", "text/html", "application/json"])
def test_errors_are_json_whatever_the_request_content_type(client, site, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    for path, status, body in (("/api/v0/nothing-here", 404, {"error": "not found"}),
                               ("/api/v0/me", 401, {"error": "no Authorization header"})):
        response = client.get(path, headers=headers)
        assert response.status_code == status
        assert response.mimetype == "application/json"
        assert response.get_json() == body


@pytest.mark.parametrize("method, path", [("DELETE", "/api/v0/sites"), ("POST", "/api/v0/me"),
                                          ("DELETE", "/api/v0/sites/1"), ("GET", "/api/v0/count"),
                                          ("PUT", "/api/v0/test")])
def test_405_when_the_path_is_routed_for_another_method(client, method, path):
    response = client.open(path, method=method, headers={"Content-Type": "application/json"})
    assert response.status_code == 405
    assert response.get_json() == {"error": "method not allowed"}
    assert "GET" in response.headers["Allow"] or "POST" in response.headers["Allow"]


@pytest.mark.parametrize("path", ["/api/v0/nope", "/api/v0/sites/1/nope", "/api/v0",
                                  "/api/v0/me/x"])
def test_404_when_no_method_is_routed(client, path):
    for method in ("GET", "POST", "PATCH", "DELETE"):
        response = client.open(path, method=method, headers={"Content-Type": "application/json"})
        assert response.status_code == 404, (method, path)
        assert response.get_json() == {"error": "not found"}


@pytest.mark.parametrize("path", ["/api/v0/me", "/api/v0/sites/5", "/api/v0/no-such-route"])
def test_options_is_200_with_an_empty_body(client, path):
    response = client.options(path)
    assert response.status_code == 200
    assert response.data == b""
    assert "Access-Control-Allow-Origin" not in response.headers


def test_options_with_origin_is_a_cors_preflight(client):
    response = client.options("/api/v0/stats/total", headers={
        "Origin": "https://example.org", "Access-Control-Request-Method": "GET"})
    assert response.status_code == 200 and response.data == b""
    headers = response.headers
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    methods = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"
    assert headers["Access-Control-Allow-Methods"] == methods
    assert headers["Allow"] == methods


def test_cors_only_when_origin_is_sent(client, api_token):
    plain = client.get("/api/v0/me", headers=bearer(api_token))
    assert plain.status_code == 200
    assert "Access-Control-Allow-Origin" not in plain.headers
    assert "Access-Control-Allow-Credentials" not in plain.headers
    cors = client.get("/api/v0/me", headers={**bearer(api_token), "Origin": "https://a.example"})
    assert cors.headers["Access-Control-Allow-Origin"] == "*"
    assert cors.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Access-Control-Allow-Methods" not in cors.headers
    error = client.get("/api/v0/me", headers={"Origin": "https://a.example"})
    assert error.status_code == 401 and error.headers["Access-Control-Allow-Origin"] == "*"


def test_every_response_says_no_store(client, api_token):
    for response in (client.get("/api/v0/me", headers=bearer(api_token)),
                     client.get("/api/v0/me"), client.get("/api/v0/nope"),
                     client.delete("/api/v0/me"), client.options("/api/v0/me"),
                     client.get("/api/v0/me/")):
        assert response.headers["Cache-Control"] == "no-store,no-cache", response.status_code


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_trailing_slash_redirects_permanently(client, method):
    response = client.open("/api/v0/sites/", method=method)
    assert response.status_code == 301
    assert response.headers["Location"] == "/api/v0/sites"
    response = client.get("/api/v0/stats/hits/?limit=3&start=2020-01-01")
    assert response.status_code == 301
    assert response.headers["Location"] == "/api/v0/stats/hits?limit=3&start=2020-01-01"


def test_body_with_another_content_type_is_415_before_authentication(client, site):
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        response = client.put("/api/v0/sites", data=b'{"cname": "x.example"}',
                              headers={"Content-Type": content_type} if content_type else {})
        assert response.status_code == 415, content_type
        assert response.data == b""


def test_empty_body_needs_a_json_content_type(client, api_token):
    response = client.patch("/api/v0/sites/1", headers=bearer(api_token))
    assert response.status_code == 415
    assert response.get_json() == {"error": 'unable to handle Content-Type ""'}
    response = client.patch("/api/v0/sites/1", headers={**bearer(api_token),
                                                        "Content-Type": "text/plain"})
    assert response.get_json() == {"error": 'unable to handle Content-Type "text/plain"'}
    response = client.patch("/api/v0/sites/1", headers={**bearer(api_token),
                                                        "Content-Type": "application/json"})
    assert response.status_code == 200, response.data  # an empty object: nothing changes


def test_json_content_type_with_parameters_is_json(client, api_token):
    response = client.post("/api/v0/test", data=b'{"status": 418}',
                           headers={**bearer(api_token),
                                    "Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 418 and response.get_json() == {"error": "status 418"}


def test_unexpected_errors_are_500_with_a_code_that_is_logged(client, api_token, caplog):
    with caplog.at_level(logging.ERROR):
        response = client.get("/api/v0/test?panic=true", headers=bearer(api_token))
    assert response.status_code == 500
    message = response.get_json()["error"]
    match = re.fullmatch(r"unexpected error code ‘([0-9a-z]+)’; this has been reported for "
                         r"investigation", message)
    assert match, message
    assert "Traceback" not in response.get_data(as_text=True)
    logged = [record for record in caplog.records if match.group(1) in record.getMessage()]
    assert logged and logged[0].exc_info and "panic requested" in str(logged[0].exc_info[1])


def test_success_bodies_are_json_with_fields_in_order(client, api_token):
    response = client.get("/api/v0/sites/1", headers=bearer(api_token))
    assert response.mimetype == "application/json"
    text = response.get_data(as_text=True)
    assert text.endswith("\n") and text.index('"id"') < text.index('"setttings"') < \
        text.index('"first_hit_at"')
