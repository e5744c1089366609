"""CSRF protection, with Flask-WTF's check switched on (TestingConfig switches it off): every
form page carries a token, every POST without one is refused with 400 and changes nothing,
and a POST with the token from the page works."""
import pytest
from sqlalchemy import func, select

from app import accounts
from app.extensions import db as _db
from app.models import ApiToken, Site, User
from tests.conftest import PASSWORD, _empty_tables, make_app
from tests.ui.conftest import csrf_tokens, is_login_redirect, text

SETUP = {"username": "admin", "password": "s3cret-enough", "confirm": "s3cret-enough",
         "domain": "stats.example.net"}


@pytest.fixture
def app(database_url, tmp_path):
    """The shared ``app`` fixture, with CSRF protection on; same clean-up."""
    app = make_app(database_url, tmp_path)
    app.config["WTF_CSRF_ENABLED"] = True
    with app.app_context():
        yield app
        _db.session.remove()
        _empty_tables()
        _db.engine.dispose()


def token_from(client, path):
    """The CSRF token on a page, checking that every POST form there carries it."""
    page = text(client.get(path))
    tokens = csrf_tokens(page)
    assert tokens and all(tokens), path
    assert len(tokens) == page.count('<form method="post"'), path
    return tokens[0]


def count(model):
    return _db.session.scalar(select(func.count()).select_from(model))


@pytest.fixture
def admin(client, user):
    """``client``, logged in as the admin ``user`` through the real form with its token."""
    response = client.post("/login", data={"username": "alice", "password": PASSWORD,
                                           "csrf_token": token_from(client, "/login")})
    assert response.status_code == 302
    return client


def test_csrf_is_on(app):
    assert app.config["WTF_CSRF_ENABLED"] is True


# --- pages carry the token -------------------------------------------------------------------

def test_setup_page_has_a_csrf_token(client):
    token_from(client, "/setup")


def test_login_page_has_a_csrf_token(client, user):
    token_from(client, "/login")


def test_form_pages_have_a_csrf_token(admin, user, site):
    for path in ("/sites/new", f"/sites/{site.id}/settings", "/user/tokens", "/users",
                 "/user/password", f"/users/{user.id}"):
        token_from(admin, path)
        # The page's own form (not only the logout button in the menu) carries one.
        assert len(csrf_tokens(text(admin.get(path)))) >= 2, path


def test_post_buttons_carry_the_token(admin, api_token, site):
    """Logout, delete, remove and revoke are small POST forms; each has a token."""
    bob = accounts.create_user("bob", PASSWORD, role="r")
    pages = {"/": "/logout", f"/sites/{site.id}/settings": f"/sites/{site.id}/delete",
             "/users": f"/users/{bob.id}/delete",
             "/user/tokens": f"/user/tokens/{api_token.id}/revoke"}
    for path, action in pages.items():
        assert f'<form method="post" action="{action}"' in text(admin.get(path))
        token_from(admin, path)


# --- POSTs without a token are refused -------------------------------------------------------

def test_setup_without_token_is_refused(client):
    response = client.post("/setup", data=SETUP)
    assert response.status_code == 400
    assert "This form was not sent from an Ibex page" in text(response)
    assert count(User) == 0 and count(Site) == 0


def test_login_without_token_is_refused(client, user):
    response = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert response.status_code == 400
    assert is_login_redirect(client.get("/sites"))


def test_login_with_a_forged_token_is_refused(client, user):
    token_from(client, "/login")  # the session has a real token, the form sends another
    response = client.post("/login", data={"username": "alice", "password": PASSWORD,
                                           "csrf_token": "forged"})
    assert response.status_code == 400
    assert is_login_redirect(client.get("/sites"))


def test_logout_without_token_is_refused(admin):
    assert admin.post("/logout").status_code == 400
    assert admin.get("/sites").status_code == 200


def test_new_site_without_token_is_refused(admin):
    assert admin.post("/sites/new", data={"domain": "new.example"}).status_code == 400
    assert count(Site) == 0


def test_settings_without_token_are_refused(admin, site):
    before = dict(site.settings)
    response = admin.post(f"/sites/{site.id}/settings", data={
        "domain": "changed.example", "name": "Changed", "ip_mode": "full",
        "data_retention": "0", "public": "public", "ignore_ips": "10.0.0.0/8"})
    assert response.status_code == 400
    assert (site.cname, site.name, site.settings, site.ignored_ips) == (
        "example.com", "Example", before, [])


def test_delete_site_without_token_is_refused(admin, site):
    assert admin.post(f"/sites/{site.id}/delete").status_code == 400
    assert site.state == "a"


def test_new_token_without_token_is_refused(admin):
    response = admin.post("/user/tokens", data={
        "name": "t", "permissions": ["count"], "all_sites": "y"})
    assert response.status_code == 400
    assert count(ApiToken) == 0


def test_revoke_without_token_is_refused(admin, api_token):
    assert admin.post(f"/user/tokens/{api_token.id}/revoke").status_code == 400
    assert api_token.revoked_at is None


def test_new_user_without_token_is_refused(admin):
    response = admin.post("/users", data={"username": "bob", "password": PASSWORD,
                                          "role": "a"})
    assert response.status_code == 400
    assert count(User) == 1


def test_edit_and_remove_user_without_token_are_refused(admin):
    bob = accounts.create_user("bob", PASSWORD, role="r")
    assert admin.post(f"/users/{bob.id}", data={"role": "a"}).status_code == 400
    assert admin.post(f"/users/{bob.id}/delete").status_code == 400
    assert _db.session.get(User, bob.id).role == "r"


def test_password_change_without_token_is_refused(admin, user):
    old_hash = user.password_hash
    response = admin.post("/user/password", data={
        "current": PASSWORD, "password": "brand new pass", "confirm": "brand new pass"})
    assert response.status_code == 400
    assert _db.session.get(User, user.id).password_hash == old_hash


# --- POSTs with the token from the page work -------------------------------------------------

def test_setup_with_the_page_token(client):
    response = client.post("/setup", data={**SETUP, "csrf_token": token_from(client, "/setup")})
    assert response.status_code == 302
    assert count(User) == 1 and count(Site) == 1


def test_login_and_logout_with_the_page_token(admin):
    # ``admin`` logged in with the token from /login.
    assert admin.get("/sites").status_code == 200
    response = admin.post("/logout", data={"csrf_token": token_from(admin, "/user/password")})
    assert response.status_code == 302
    assert is_login_redirect(admin.get("/sites"))


def test_new_site_with_the_page_token(admin):
    response = admin.post("/sites/new", data={
        "domain": "new.example", "csrf_token": token_from(admin, "/sites/new")})
    assert response.status_code == 302
    assert _db.session.scalar(select(Site.cname)) == "new.example"


def test_settings_with_the_page_token(admin, site):
    path = f"/sites/{site.id}/settings"
    response = admin.post(path, data={
        "domain": "example.com", "name": "Renamed", "ip_mode": "full", "data_retention": "0",
        "public": "private", "collect": ["2"], "csrf_token": token_from(admin, path)})
    assert response.status_code == 302
    assert (site.name, site.settings["ip_mode"]) == ("Renamed", "full")


def test_new_token_with_the_page_token(admin):
    response = admin.post("/user/tokens", data={
        "name": "t", "permissions": ["count"], "all_sites": "y",
        "csrf_token": token_from(admin, "/user/tokens")})
    assert response.status_code == 201
    assert count(ApiToken) == 1


def test_revoke_with_the_page_token(admin, api_token):
    response = admin.post(f"/user/tokens/{api_token.id}/revoke",
                          data={"csrf_token": token_from(admin, "/user/tokens")})
    assert response.status_code == 302
    assert api_token.revoked_at is not None


def test_new_user_with_the_page_token(admin):
    response = admin.post("/users", data={"username": "bob", "password": PASSWORD,
                                          "role": "r", "csrf_token": token_from(admin, "/users")})
    assert response.status_code == 302
    assert count(User) == 2


def test_password_change_with_the_page_token(admin, user):
    old_hash = user.password_hash
    response = admin.post("/user/password", data={
        "current": PASSWORD, "password": "brand new pass", "confirm": "brand new pass",
        "csrf_token": token_from(admin, "/user/password")})
    assert response.status_code == 302
    assert _db.session.get(User, user.id).password_hash != old_hash


def test_a_token_from_another_session_is_refused(admin, new_client, user):
    stranger = new_client()
    foreign = token_from(stranger, "/login")
    response = admin.post("/sites/new", data={"domain": "new.example", "csrf_token": foreign})
    assert response.status_code == 400
    assert count(Site) == 0
