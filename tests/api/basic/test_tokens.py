"""POST /api/tokens/generate (with its bootstrap rule), GET /api/tokens, DELETE
/api/tokens/{id}: ordinary Ibex API tokens with all permissions, hashed at rest."""
import re

from sqlalchemy import select

from app import accounts
from app.models import ALL_PERMISSIONS, ALL_SITES, ApiToken, AppState

RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def generate(client, headers=None):
    return client.post("/api/tokens/generate", headers=headers or {})


def test_bootstrap_issues_one_full_token_without_credentials(client, db, superuser, user):
    response = generate(client)
    assert response.status_code == 200 and set(response.json) == {"token", "id"}
    secret, ident = response.json["token"], response.json["id"]
    token = db.session.get(ApiToken, ident)
    # Owned by the first superuser, all permissions on all sites, only a hash stored.
    assert token.user_id == superuser.id and token.revoked_at is None
    assert token.permissions == ALL_PERMISSIONS and token.sites == [ALL_SITES]
    assert token.secret_hash == ApiToken.hash_secret(secret) and secret not in token.secret_hash
    assert token.prefix == secret[:6]
    assert db.session.get(AppState, accounts.BOOTSTRAP_TOKEN) is not None
    # The secret works, and from now on the endpoint needs it.
    assert client.get("/api/tokens", headers=bearer(secret)).status_code == 200
    again = generate(client)
    assert (again.status_code, again.json) == (401, {"error": "unauthorized"})
    assert len(db.session.scalars(select(ApiToken)).all()) == 1


def bearer(secret):
    return {"Authorization": f"Bearer {secret}"}


def test_bootstrap_is_refused_while_any_active_token_exists(client, db, secret):
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        response = generate(client, headers)
        assert (response.status_code, response.json) == (401, {"error": "unauthorized"})
    assert db.session.get(AppState, accounts.BOOTSTRAP_TOKEN) is None


def test_bootstrap_works_when_all_tokens_are_revoked_but_only_once_ever(client, db, user):
    token, _secret = accounts.create_token(user, "made in the UI")
    accounts.revoke_token(token)
    # A leftover header with a dead token does not stand in the way of the bootstrap.
    first = generate(client, {"Authorization": "Bearer stale"})
    assert first.status_code == 200
    accounts.revoke_token(db.session.get(ApiToken, first.json["id"]))
    # No active token again, but the credential-less way was used up.
    response = generate(client)
    assert (response.status_code, response.json) == (401, {"error": "unauthorized"})


def test_bootstrap_before_any_admin_exists(client, db):
    response = generate(client)
    assert response.status_code == 409 and set(response.json) == {"error"}
    assert db.session.scalars(select(ApiToken)).all() == []
    # The chance is not used up by a refused attempt.
    assert db.session.get(AppState, accounts.BOOTSTRAP_TOKEN) is None
    accounts.create_user("root", "correct horse battery", role="*")
    assert generate(client).status_code == 200


def test_generate_with_a_token_makes_another_for_the_same_user(client, db, user, secret):
    response = generate(client, bearer(secret))
    assert response.status_code == 200
    new = db.session.get(ApiToken, response.json["id"])
    assert new.user_id == user.id and new.permissions == ALL_PERMISSIONS
    assert response.json["token"] != secret
    assert client.get("/api/sites", headers=bearer(response.json["token"])).status_code == 200


def test_only_full_tokens_manage_tokens(client, db, user, site):
    _t, partial = accounts.create_token(user, "stats", accounts.permission_bits(["stats"]))
    _t, one_site = accounts.create_token(user, "site", ALL_PERMISSIONS, [site.id])
    for limited in (partial, one_site):
        for response in (generate(client, bearer(limited)),
                         client.get("/api/tokens", headers=bearer(limited)),
                         client.delete("/api/tokens/1", headers=bearer(limited))):
            assert response.status_code == 403 and set(response.json) == {"error"}
    assert len(db.session.scalars(select(ApiToken)).all()) == 2


def test_list_shows_active_tokens_without_secrets(client, db, user, secret):
    second = generate(client, bearer(secret)).json
    revoked, _s = accounts.create_token(user, "revoked")
    accounts.revoke_token(revoked)
    other_user = accounts.create_user("bob", "correct horse battery", role="a")
    accounts.create_token(other_user, "bob's")
    response = client.get("/api/tokens", headers=bearer(secret))
    assert response.status_code == 200
    mine = db.session.scalars(select(ApiToken.id).where(
        ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)).all()
    assert [t["id"] for t in response.json] == mine and second["id"] in mine
    for listed in response.json:
        assert set(listed) == {"id", "created_at"} and re.fullmatch(RFC3339, listed["created_at"])
    assert secret not in response.get_data(as_text=True)


def test_revoke(client, db, user, secret):
    other = generate(client, bearer(secret)).json
    response = client.delete(f"/api/tokens/{other['id']}", headers=bearer(secret))
    assert response.status_code == 204 and response.data == b""
    assert db.session.get(ApiToken, other["id"]).revoked_at is not None
    assert client.get("/api/sites", headers=bearer(other["token"])).status_code == 401
    # Already revoked, never existed, or another user's: no such token.
    bob = accounts.create_user("bob", "correct horse battery", role="a")
    bobs, _s = accounts.create_token(bob, "bob's")
    for ident in (other["id"], 9999, bobs.id, 0, -1, 2 ** 40, 10 ** 30):
        response = client.delete(f"/api/tokens/{ident}", headers=bearer(secret))
        assert (response.status_code, response.json) == (404, {"error": "token not found"})
    for bad in ("abc", "1.5", "0x10", "1e3", "%20", "--1"):
        response = client.delete(f"/api/tokens/{bad}", headers=bearer(secret))
        assert (response.status_code, response.json) == (400, {"error": "invalid id"}), bad


def test_the_token_making_the_request_may_revoke_itself(client, db, secret):
    ident = db.session.scalar(select(ApiToken.id).where(
        ApiToken.secret_hash == ApiToken.hash_secret(secret)))
    assert client.delete(f"/api/tokens/{ident}", headers=bearer(secret)).status_code == 204
    response = client.get("/api/tokens", headers=bearer(secret))
    assert (response.status_code, response.json) == (401, {"error": "unauthorized"})
