"""The API-token helper every family uses: header parsing, lookup, permissions, sites."""
import base64
from datetime import timedelta

import pytest
from flask import g, jsonify

from app import accounts, clock
from app.auth import (authenticate_token, check_permissions, check_site, token_from_header,
                      token_required)
from app.exceptions import AuthError, PermissionDenied


def basic(username, password):
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.mark.parametrize("header, token", [
    ("Bearer abc123xyz", "abc123xyz"),
    (basic("", "abc123xyz"), "abc123xyz"),
    (basic("anything", "abc:123"), "abc:123"),
    ("Basic " + base64.b64encode(b"no-colon").decode(), ""),
])
def test_header_forms(header, token):
    assert token_from_header(header) == token


@pytest.mark.parametrize("header, reason", [
    (None, "missing"),
    ("", "format"),
    ("Bearer", "format"),
    ("Bearer a b", "format"),
    ("bearer abc", "format"),
    ("Token abc", "format"),
    ("Basic !!!not-base64!!!", "format"),
])
def test_bad_headers(header, reason):
    with pytest.raises(AuthError) as exc:
        token_from_header(header)
    assert exc.value.reason == reason
    assert exc.value.message == AuthError.MESSAGES[reason]


def test_messages_are_goatcounters():
    assert AuthError("missing").message == "no Authorization header"
    assert AuthError("format").message == "wrong format for Authorization header"
    assert AuthError("unknown").message == "unknown token"


def test_authenticate_with_bearer_and_basic(api_token):
    assert authenticate_token("Bearer " + api_token.secret) == api_token
    assert authenticate_token(basic("", api_token.secret)) == api_token
    with pytest.raises(AuthError, match="unknown token"):
        authenticate_token("Bearer " + api_token.secret + "x")
    with pytest.raises(AuthError, match="unknown token"):
        authenticate_token(basic("user", ""))


def test_revoked_tokens_stop_working(api_token):
    accounts.revoke_token(api_token)
    with pytest.raises(AuthError, match="unknown token"):
        authenticate_token("Bearer " + api_token.secret)


def test_last_use_is_recorded_at_five_minute_resolution(api_token):
    start = clock.utcnow().replace(microsecond=0)
    try:
        clock.freeze(start)
        authenticate_token("Bearer " + api_token.secret)
        assert api_token.last_used_at == start
        clock.freeze(start + timedelta(minutes=1))
        authenticate_token("Bearer " + api_token.secret)
        assert api_token.last_used_at == start
        clock.freeze(start + timedelta(minutes=6))
        authenticate_token("Bearer " + api_token.secret)
        assert api_token.last_used_at == start + timedelta(minutes=6)
    finally:
        clock.freeze(None)


def test_permission_check_names_bits_in_goatcounter_order(user):
    token, _ = accounts.create_token(user, "stats only", accounts.permission_bits(["stats"]))
    check_permissions(token, "stats")
    check_permissions(token, "count", "stats")  # any one of the bits is enough
    with pytest.raises(PermissionDenied) as exc:
        check_permissions(token, "export", "count")
    assert exc.value.message == "requires 'count', 'export' permissions"


def test_site_list_is_enforced(user, site):
    other = accounts.create_site("other.example")
    only_site, _ = accounts.create_token(user, "one site", sites=[site.id])
    check_site(only_site, site.id)
    with pytest.raises(PermissionDenied, match="does not have access to this site"):
        check_site(only_site, other.id)
    every_site, _ = accounts.create_token(user, "all sites")
    check_site(every_site, other.id)


def test_token_required_decorator(app, client, user):
    @app.errorhandler(AuthError)
    def unauthorized(exc):
        return jsonify(error=exc.message), 401

    @app.errorhandler(PermissionDenied)
    def forbidden(exc):
        return jsonify(error=exc.message), 403

    @token_required("count")
    def view():
        return jsonify(token=g.api_token.name)
    app.add_url_rule("/_token_test", "token_test", view)

    counter, counter_secret = accounts.create_token(user, "counter",
                                                    accounts.permission_bits(["count"]))
    _, reader_secret = accounts.create_token(user, "reader", accounts.permission_bits(["stats"]))
    assert client.get("/_token_test").get_json() == {"error": "no Authorization header"}
    response = client.get("/_token_test", headers={"Authorization": "Bearer " + counter_secret})
    assert response.status_code == 200 and response.get_json() == {"token": "counter"}
    response = client.get("/_token_test",
                          headers={"Authorization": basic("", counter_secret)})
    assert response.status_code == 200
    response = client.get("/_token_test", headers={"Authorization": "Bearer " + reader_secret})
    assert response.status_code == 403
    assert response.get_json() == {"error": "requires 'count' permissions"}
