"""API tokens in the user menu: create (secret shown once, stored only as a hash), revoke,
permissions and sites, roles, escaping, last-used time."""
import re

import pytest
from sqlalchemy import func, select

from app import accounts
from app.auth import authenticate_token
from app.exceptions import AuthError
from app.models import ALL_SITES, PERMISSIONS, ApiToken
from tests.conftest import PASSWORD
from tests.ui.conftest import log_in, text

XSS = "<script>alert(1)</script>"


def shown_secret(response):
    match = re.search(r'<code id="token-secret">([^<]*)</code>', text(response))
    return match.group(1) if match else None


def token_count(db):
    return db.session.scalar(select(func.count()).select_from(ApiToken))


def row_of(page, name):
    """The <tr> of the token called ``name`` in the listing."""
    for row in re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.S):
        if f'<td class="tokenname">{name}</td>' in row:
            return row
    raise AssertionError(f"no row for {name}")


def test_api_tokens_link_is_in_the_user_menu_for_admins(logged_in, new_client):
    menu = re.search(r'<details class="usermenu">(.*?)</details>',
                     text(logged_in.get("/")), re.S).group(1)
    assert 'href="/user/tokens"' in menu and "API tokens" in menu
    assert logged_in.get("/user/tokens").status_code == 200

    accounts.create_user("carol", PASSWORD, role="s")
    carol = new_client()
    assert log_in(carol, "carol").status_code == 302
    assert "/user/tokens" not in text(carol.get("/"))


def test_create_token_shows_the_secret_once_and_stores_only_its_hash(logged_in, db, user):
    response = logged_in.post("/user/tokens", data={
        "name": "deploy", "permissions": ["count", "stats"], "all_sites": "y"})

    assert response.status_code == 201
    secret = shown_secret(response)
    assert secret and len(secret) >= 40
    token = db.session.scalar(select(ApiToken))
    assert (token.name, token.user_id) == ("deploy", user.id)
    row = db.session.execute(select(ApiToken.__table__)).one()
    for column, value in row._mapping.items():
        assert secret not in str(value), column
    assert text(response).count(secret) == 1

    later = logged_in.get("/user/tokens")
    assert later.status_code == 200
    assert secret not in text(later) and shown_secret(later) is None
    assert "deploy" in text(later)

    found = authenticate_token("Bearer " + secret)
    assert found.id == token.id
    assert found.permissions == PERMISSIONS["count"] | PERMISSIONS["stats"]
    assert found.has_permission("stats") and not found.has_permission("export")
    assert found.sites == [ALL_SITES]


def test_create_token_for_chosen_sites(logged_in, db, site):
    other = accounts.create_site("other.example")
    accounts.create_site("third.example")
    response = logged_in.post("/user/tokens", data={
        "name": "two sites", "permissions": ["site-read"], "sites": [site.id, other.id]})

    assert response.status_code == 201
    token = authenticate_token("Bearer " + shown_secret(response))
    assert sorted(token.sites) == sorted([site.id, other.id])
    assert token.allows_site(site.id) and not token.allows_site(other.id + 1)
    assert token.permissions == PERMISSIONS["site-read"]


def test_create_token_without_permissions_is_refused(logged_in, db):
    response = logged_in.post("/user/tokens", data={"name": "nothing", "all_sites": "y"})
    assert response.status_code == 400
    assert "Select at least one permission." in text(response)
    assert shown_secret(response) is None
    assert token_count(db) == 0


def test_create_token_with_unknown_permission_is_refused(logged_in, db):
    response = logged_in.post("/user/tokens", data={
        "name": "odd", "permissions": ["count", "root"], "all_sites": "y"})
    assert response.status_code == 400
    assert token_count(db) == 0


def test_only_these_sites_needs_a_site(logged_in, db, site):
    response = logged_in.post("/user/tokens", data={"name": "none", "permissions": ["count"]})
    assert response.status_code == 400
    assert "Select at least one site, or all sites." in text(response)
    assert token_count(db) == 0


def test_create_token_needs_a_name(logged_in, db):
    response = logged_in.post("/user/tokens", data={
        "name": "  ", "permissions": ["count"], "all_sites": "y"})
    assert response.status_code == 400
    assert token_count(db) == 0


def test_revoke_token(logged_in, db, api_token):
    assert authenticate_token("Bearer " + api_token.secret).id == api_token.id

    response = logged_in.post(f"/user/tokens/{api_token.id}/revoke")

    assert response.status_code == 302
    assert response.headers["Location"] == "/user/tokens"
    with pytest.raises(AuthError):
        authenticate_token("Bearer " + api_token.secret)
    page = text(logged_in.get("/user/tokens"))
    assert "Token test token revoked; it no longer works." in page
    assert "revoked " in row_of(page, "test token")
    assert f"/user/tokens/{api_token.id}/revoke" not in page


def test_revoke_is_post_only(logged_in, api_token):
    assert logged_in.get(f"/user/tokens/{api_token.id}/revoke").status_code == 405
    assert authenticate_token("Bearer " + api_token.secret).id == api_token.id


def test_cannot_revoke_another_users_token(logged_in, user, site):
    bob = accounts.create_user("bob", PASSWORD, role="a")
    token, secret = accounts.create_token(bob, "bob's")

    assert logged_in.post(f"/user/tokens/{token.id}/revoke").status_code == 404
    assert logged_in.post("/user/tokens/999/revoke").status_code == 404
    assert authenticate_token("Bearer " + secret).id == token.id
    assert "bob&#39;s" not in text(logged_in.get("/user/tokens"))


@pytest.mark.parametrize("role", ["s", "r"])
def test_tokens_are_for_admins_only(new_client, db, api_token, role):
    accounts.create_user("carol", PASSWORD, role=role)
    client = new_client()
    assert log_in(client, "carol").status_code == 302

    assert client.get("/user/tokens").status_code == 403
    assert client.post("/user/tokens", data={
        "name": "mine", "permissions": ["count"], "all_sites": "y"}).status_code == 403
    assert client.post(f"/user/tokens/{api_token.id}/revoke").status_code == 403
    assert token_count(db) == 1
    assert authenticate_token("Bearer " + api_token.secret).id == api_token.id


def test_token_name_is_escaped(logged_in, db):
    response = logged_in.post("/user/tokens", data={
        "name": XSS, "permissions": ["count"], "all_sites": "y"})
    assert response.status_code == 201
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for page in (text(response), text(logged_in.get("/user/tokens"))):
        assert XSS not in page
        assert f'<td class="tokenname">{escaped}</td>' in page

    token = db.session.scalar(select(ApiToken))
    logged_in.post(f"/user/tokens/{token.id}/revoke")
    page = text(logged_in.get("/user/tokens"))
    assert XSS not in page and f"Token {escaped} revoked" in page


def test_last_used_is_never_and_then_a_time(logged_in, api_token):
    assert "<td>never</td>" in row_of(text(logged_in.get("/user/tokens")), "test token")

    authenticate_token("Bearer " + api_token.secret)

    row = row_of(text(logged_in.get("/user/tokens")), "test token")
    assert "never" not in row
    used = api_token.last_used_at.strftime("%Y-%m-%d %H:%M")
    assert re.findall(r"<td>(\d{4}-\d\d-\d\d \d\d:\d\d)</td>", row)[-1] == used
