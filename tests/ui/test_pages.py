"""Entry pages: first-run setup, login (with its rate limit and ?next=), logout, protected
pages, and the password change."""
import pytest
from sqlalchemy import func, select

from app.models import AppState, Site, User
from tests.conftest import PASSWORD
from tests.ui.conftest import is_login_redirect, log_in, text

SETUP = {"username": "admin", "email": "admin@example.org", "password": "s3cret-enough",
         "confirm": "s3cret-enough", "domain": "stats.example.net", "site_name": "My blog"}
PROTECTED = ["/", "/sites", "/sites/new", "/sites/{site}/settings", "/sites/{site}/tracking",
             "/users", "/users/{user}", "/user/tokens", "/user/password"]


def count(db, model):
    return db.session.scalar(select(func.count()).select_from(model))


# --- first run -------------------------------------------------------------------------------

def test_home_redirects_to_setup_while_there_are_no_users(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/setup"
    assert client.get("/login").headers["Location"] == "/setup"
    page = client.get("/setup")
    assert page.status_code == 200
    assert 'name="username"' in text(page) and 'name="domain"' in text(page)


def test_setup_creates_superuser_and_first_site_and_logs_in(client, new_client, db):
    response = client.post("/setup", data=SETUP)

    user = db.session.scalar(select(User))
    site = db.session.scalar(select(Site))
    assert (user.username, user.email, user.role) == ("admin", "admin@example.org", "*")
    assert (site.cname, site.name, site.owner_id, site.state) == (
        "stats.example.net", "My blog", user.id, "a")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/sites/{site.id}/tracking"
    tracking = client.get(response.headers["Location"])
    assert tracking.status_code == 200
    assert site.uuid in text(tracking)
    assert client.get("/sites").status_code == 200  # logged in
    # The new account works from another browser too.
    assert log_in(new_client(), "admin", "s3cret-enough").status_code == 302


def test_setup_is_closed_once_a_user_exists(client, db, user):
    assert client.get("/setup").headers["Location"] == "/login"
    response = client.post("/setup", data={**SETUP, "username": "intruder"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert [u.username for u in db.session.scalars(select(User))] == ["alice"]
    assert count(db, Site) == 0
    assert client.get("/sites").status_code == 302  # and nobody got logged in


@pytest.mark.parametrize("changes, message", [
    ({"password": "short", "confirm": "short"}, "Use at least 8 characters."),
    ({"domain": "not a domain!"}, "must be a valid domain"),
    ({"confirm": "something-else"}, "The passwords do not match."),
    ({"username": "bad name"}, "must be 1–100 letters"),
])
def test_setup_validation_errors_rerender_and_create_nothing(client, db, changes, message):
    response = client.post("/setup", data={**SETUP, **changes})

    assert response.status_code == 200
    assert message in text(response)
    assert 'class="field has-error"' in text(response)
    assert count(db, User) == 0 and count(db, Site) == 0 and count(db, AppState) == 0
    # The failed attempt did not use up the one-time setup.
    assert client.post("/setup", data=SETUP).status_code == 302
    assert count(db, User) == 1


# --- login and logout ------------------------------------------------------------------------

def test_login_with_wrong_password_is_refused_without_a_session(client, user):
    response = log_in(client, "alice", "wrong password")
    assert response.status_code == 401
    assert "Wrong username or password." in text(response)
    assert is_login_redirect(client.get("/sites"))


def test_login_with_unknown_username_is_refused_the_same_way(client, user):
    response = log_in(client, "mallory")
    assert response.status_code == 401
    assert "Wrong username or password." in text(response)
    assert is_login_redirect(client.get("/sites"))


def test_login_with_correct_password_starts_a_session(client, db, user):
    assert user.login_at is None
    response = log_in(client, "ALICE")  # usernames are case-insensitive
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "alice" in text(home)
    assert db.session.get(User, user.id).login_at is not None


def test_login_follows_a_same_site_next_path(new_client, user):
    response = log_in(new_client(), "alice", query_string={"next": "/sites?x=1"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/sites?x=1"


def test_login_ignores_next_targets_off_the_site(new_client, user):
    for target in ("//evil.example", "https://evil.example", "https://evil.example/sites",
                   "/\\evil", "\\\\evil", "javascript:alert(1)", "sites"):
        response = log_in(new_client(), "alice", query_string={"next": target})
        assert response.status_code == 302, target
        assert response.headers["Location"] == "/", target


def test_logout_only_via_post(logged_in):
    assert logged_in.get("/logout").status_code == 405
    assert logged_in.get("/sites").status_code == 200  # still logged in

    response = logged_in.post("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert is_login_redirect(logged_in.get("/sites"))


def test_protected_pages_redirect_anonymous_users_to_login(client, user, site):
    for path in PROTECTED:
        path = path.format(site=site.id, user=user.id)
        response = client.get(path)
        assert is_login_redirect(response), (path, response.status_code)


def test_protected_posts_from_anonymous_users_change_nothing(client, db, user, site):
    for path in ("/sites/new", f"/sites/{site.id}/settings", f"/sites/{site.id}/delete",
                 "/users", f"/users/{user.id}", f"/users/{user.id}/delete", "/user/tokens",
                 "/user/password", "/logout"):
        response = client.post(path, data={
            "domain": "new.example", "username": "bob", "password": PASSWORD, "role": "*",
            "name": "t", "permissions": ["count"], "all_sites": "y", "ip_mode": "full",
            "data_retention": "0", "public": "public", "current": PASSWORD,
            "confirm": PASSWORD})
        assert is_login_redirect(response), path
    assert count(db, User) == 1 and count(db, Site) == 1
    site = db.session.get(Site, site.id)
    assert (site.cname, site.state, site.settings["public"]) == ("example.com", "a", "private")
    assert db.session.get(User, user.id).role == "a"


def test_logged_in_user_sees_login_redirected_home(logged_in):
    response = logged_in.get("/login")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


# --- login rate limit ------------------------------------------------------------------------

ATTACKER = "203.0.113.7"


def test_login_rate_limit_counts_failures_not_successes(new_client, user):
    """20 failed logins per IP and minute; logins that succeed (302) are not counted."""
    client = new_client(REMOTE_ADDR=ATTACKER)
    for attempt in range(19):
        assert log_in(client, "alice", "guess %d" % attempt).status_code == 401, attempt
    for _ in range(3):
        assert log_in(new_client(REMOTE_ADDR=ATTACKER), "alice").status_code == 302
    assert log_in(client, "alice", "guess 19").status_code == 401  # the 20th failure

    response = log_in(client, "alice")  # the 21st counted POST: even the right password
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert "Too many attempts" in text(response)
    assert is_login_redirect(client.get("/sites"))
    assert log_in(new_client(REMOTE_ADDR=ATTACKER), "alice").status_code == 429
    # Other addresses keep their own budget.
    assert log_in(new_client(REMOTE_ADDR="198.51.100.9"), "alice").status_code == 302


# --- password change -------------------------------------------------------------------------

def test_password_change_refuses_a_wrong_current_password(logged_in, new_client, user):
    response = logged_in.post("/user/password", data={
        "current": "not my password", "password": "brand new pass", "confirm": "brand new pass"})
    assert response.status_code == 200
    assert "That is not your current password." in text(response)
    assert log_in(new_client(), "alice", PASSWORD).status_code == 302
    assert log_in(new_client(), "alice", "brand new pass").status_code == 401


def test_password_change_validates_the_new_password(logged_in, new_client, user):
    response = logged_in.post("/user/password", data={
        "current": PASSWORD, "password": "short", "confirm": "short"})
    assert response.status_code == 200
    assert "Use at least 8 characters." in text(response)
    response = logged_in.post("/user/password", data={
        "current": PASSWORD, "password": "brand new pass", "confirm": "brand new pasS"})
    assert "The passwords do not match." in text(response)
    assert log_in(new_client(), "alice", PASSWORD).status_code == 302


def test_password_change_ends_other_sessions_but_keeps_this_one(logged_in, new_client, user):
    other = new_client()
    assert log_in(other, "alice").status_code == 302
    assert other.get("/sites").status_code == 200

    response = logged_in.post("/user/password", data={
        "current": PASSWORD, "password": "brand new pass", "confirm": "brand new pass"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert logged_in.get("/sites").status_code == 200
    assert is_login_redirect(other.get("/sites"))
    assert log_in(new_client(), "alice", PASSWORD).status_code == 401
    assert log_in(new_client(), "alice", "brand new pass").status_code == 302
