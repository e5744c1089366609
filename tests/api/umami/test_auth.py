"""Umami login, verify and logout (spec §4): the token and cookie shapes, cookie and Bearer
authentication, and Ibex's revocation (logout, password change, user removal, expiry)."""
from datetime import timedelta

from sqlalchemy import select

from app import accounts, clock
from app.models import UmamiLoginToken
from tests.api.umami.conftest import frozen, umami_login
from tests.conftest import PASSWORD


def test_login_answers_a_token_and_sets_the_cookie(client, user):
    response = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert list(response.json) == ["token"]
    token = response.json["token"]
    assert response.headers["Set-Cookie"] == (
        f"umami.auth={token}; Max-Age=31536000; Path=/; HttpOnly; SameSite=Strict")


def test_only_a_hash_of_the_token_is_stored(client, user, db):
    token = umami_login(client, "alice")
    stored = db.session.scalars(select(UmamiLoginToken.token_hash)).all()
    assert stored == [UmamiLoginToken.hash(token)]
    assert token not in stored


def test_login_works_with_any_method(client, user):
    response = client.put("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200


def test_wrong_password_and_unknown_user_are_401_in_plain_text(client, user):
    for body in ({"username": "alice", "password": "nope"},
                 {"username": "mallory", "password": PASSWORD}):
        response = client.post("/api/auth/login", json=body)
        assert response.status_code == 401
        assert response.data == b"401 Unauthorized"
        assert "Content-Type" not in response.headers


def test_missing_fields_are_400_not_500(client, user):
    for body in ({}, {"username": "alice"}, {"password": PASSWORD}, {"username": 5,
                                                                     "password": PASSWORD}):
        response = client.post("/api/auth/login", json=body)
        assert (response.status_code, response.data) == (400, b"400 Bad Request")
    response = client.post("/api/auth/login", data="username=alice", content_type="text/plain")
    assert response.status_code == 400


def test_malformed_json_is_invalid_json(client, user):
    response = client.post("/api/auth/login", data="{", content_type="application/json")
    assert (response.status_code, response.data) == (400, b"Invalid JSON")


def test_form_bodies_are_parsed(client, user):
    response = client.post("/api/auth/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200


def test_verify_with_cookie_and_with_bearer(client, new_client, user):
    token = umami_login(client, "alice")
    response = client.get("/api/auth/verify")
    assert response.status_code == 200
    assert response.json["user_id"] == user.id
    assert response.json["username"] == "alice"
    assert response.json["is_admin"] is True
    assert isinstance(response.json["iat"], int)
    other = new_client()
    assert other.get("/api/auth/verify").status_code == 401
    response = other.post("/api/auth/verify", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json["username"] == "alice"


def test_forged_tokens_are_401(client, user):
    client.set_cookie("umami.auth", "forged")
    assert client.get("/api/auth/verify").data == b"401 Unauthorized"
    response = client.get("/api/websites", headers={"Authorization": "Bearer forged"})
    assert response.status_code == 401


def test_logout_clears_the_cookie_and_revokes_the_token(client, new_client, user):
    token = umami_login(client, "alice")
    response = client.post("/api/auth/logout")
    assert response.status_code == 200 and response.json == {}
    assert response.headers["Set-Cookie"] == "umami.auth=; Max-Age=0; Path=/; HttpOnly"
    bearer = new_client()
    assert bearer.get("/api/auth/verify",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_logout_without_a_login_is_fine(client):
    response = client.get("/api/auth/logout")
    assert response.status_code == 200 and response.json == {}


def test_logout_of_one_token_keeps_the_others(client, new_client, user):
    first = umami_login(client, "alice")
    second = umami_login(new_client(), "alice")
    client.post("/api/auth/logout", headers={"Authorization": f"Bearer {first}"})
    assert new_client().get("/api/auth/verify", headers={
        "Authorization": f"Bearer {second}"}).status_code == 200


def test_password_change_revokes_tokens(client, user):
    umami_login(client, "alice")
    accounts.set_password(user, "a brand new password")
    assert client.get("/api/auth/verify").status_code == 401


def test_user_removal_revokes_tokens(client, user, superuser):
    umami_login(client, "alice")
    accounts.delete_user(user)
    assert client.get("/api/auth/verify").status_code == 401


def test_tokens_expire_after_the_configured_lifetime(client, user, app):
    umami_login(client, "alice")
    with frozen(clock.utcnow() + timedelta(days=364)):
        assert client.get("/api/auth/verify").status_code == 200
    with frozen(clock.utcnow() + timedelta(days=366)):
        assert client.get("/api/auth/verify").status_code == 401


def test_lifetime_is_configurable(client, user, app):
    app.config["UMAMI_TOKEN_DAYS"] = 2
    response = client.post("/api/auth/login", json={"username": "alice", "password": PASSWORD})
    assert "Max-Age=172800;" in response.headers["Set-Cookie"]
    with frozen(clock.utcnow() + timedelta(days=3)):
        assert client.get("/api/auth/verify").status_code == 401
