"""User administration: listing, creating, editing and removing users, and who may do what."""
import pytest
from sqlalchemy import select

from app import accounts
from app.models import User
from tests.conftest import PASSWORD
from tests.ui.conftest import log_in, text


def usernames(db):
    return sorted(db.session.scalars(select(User.username)))


def logged_in_as(new_client, username, role):
    user = accounts.create_user(username, PASSWORD, role=role)
    client = new_client()
    assert log_in(client, username).status_code == 302
    return client, user


def new_user(username="bob", role="r", **extra):
    return {"username": username, "email": "", "role": role, "password": "bob's password",
            **extra}


def test_admin_lists_users(logged_in, user, superuser):
    accounts.create_user("carol", PASSWORD, email="carol@example.org", role="s")
    page = text(logged_in.get("/users"))
    assert "alice" in page and "(you)" in page
    assert "carol@example.org" in page and "settings" in page
    assert "root" in page and "superuser" in page
    # An admin is offered no edit or remove buttons for a superuser.
    assert f"/users/{superuser.id}" not in page


def test_admin_creates_a_user_who_can_log_in(logged_in, new_client, db, user):
    response = logged_in.post("/users", data=new_user(email="bob@example.org", role="s"))

    assert response.status_code == 302
    assert response.headers["Location"] == "/users"
    bob = db.session.scalar(select(User).where(User.username == "bob"))
    assert (bob.email, bob.role) == ("bob@example.org", "s")
    assert "User bob created." in text(logged_in.get("/users"))
    assert log_in(new_client(), "bob", "bob's password").status_code == 302


def test_create_user_validation(logged_in, db, user):
    for changes, message in (({"username": "alice"}, "already exists"),
                             ({"username": "ALICE"}, "already exists"),
                             ({"username": "bad name"}, "must be 1–100 letters"),
                             ({"password": "short"}, "Use at least 8 characters."),
                             ({"role": "x"}, "Not a valid choice")):
        response = logged_in.post("/users", data=new_user(**changes))
        assert response.status_code == 400, changes
        assert message in text(response), changes
    assert usernames(db) == ["alice"]


@pytest.mark.parametrize("role", ["r", "s"])
def test_users_page_is_for_admins_only(new_client, db, role):
    client, _ = logged_in_as(new_client, "carol", role)
    assert client.get("/users").status_code == 403
    assert client.post("/users", data=new_user(role="*")).status_code == 403
    assert client.get("/users/1").status_code == 403
    assert usernames(db) == ["carol"]
    assert 'href="/users"' not in text(client.get("/"))


def test_admin_cannot_create_a_superuser(logged_in, db, user):
    response = logged_in.post("/users", data=new_user(role="*"))
    assert response.status_code == 403
    assert usernames(db) == ["alice"]


def test_admin_cannot_edit_or_remove_a_superuser(logged_in, db, user, superuser):
    assert logged_in.get(f"/users/{superuser.id}").status_code == 403
    assert logged_in.post(f"/users/{superuser.id}",
                          data={"role": "r", "email": "x@example.org"}).status_code == 403
    assert logged_in.post(f"/users/{superuser.id}/delete").status_code == 403
    root = db.session.get(User, superuser.id)
    assert (root.role, root.email) == ("*", None)


def test_admin_cannot_promote_anyone_to_superuser(logged_in, db, user):
    bob = accounts.create_user("bob", PASSWORD, role="r")
    assert logged_in.post(f"/users/{bob.id}", data={"role": "*"}).status_code == 403
    assert logged_in.post(f"/users/{user.id}", data={"role": "*"}).status_code == 403
    assert db.session.get(User, bob.id).role == "r"
    assert db.session.get(User, user.id).role == "a"


def test_admin_edits_a_user(logged_in, db, user):
    bob = accounts.create_user("bob", PASSWORD, role="r")
    assert '<option selected value="r">' in text(logged_in.get(f"/users/{bob.id}"))
    response = logged_in.post(f"/users/{bob.id}", data={"role": "s", "email": "b@example.org"})
    assert response.status_code == 302
    bob = db.session.get(User, bob.id)
    assert (bob.role, bob.email) == ("s", "b@example.org")


def test_superuser_creates_and_promotes_superusers(new_client, db, superuser):
    client = new_client()
    assert log_in(client, "root").status_code == 302

    assert client.post("/users", data=new_user("second", role="*")).status_code == 302
    assert db.session.scalar(select(User.role).where(User.username == "second")) == "*"

    bob = accounts.create_user("bob", PASSWORD, role="a")
    assert client.post(f"/users/{bob.id}", data={"role": "*"}).status_code == 302
    assert db.session.get(User, bob.id).role == "*"


def test_last_superuser_cannot_be_demoted(new_client, db, superuser):
    client = new_client()
    assert log_in(client, "root").status_code == 302

    response = client.post(f"/users/{superuser.id}", data={"role": "a"})

    assert response.status_code == 200
    assert "the last superuser cannot be demoted" in text(response)
    assert db.session.get(User, superuser.id).role == "*"


def test_a_superuser_can_be_demoted_while_another_remains(new_client, db, superuser):
    other = accounts.create_user("second", PASSWORD, role="*")
    client = new_client()
    assert log_in(client, "root").status_code == 302

    assert client.post(f"/users/{other.id}", data={"role": "a"}).status_code == 302
    assert db.session.get(User, other.id).role == "a"
    assert client.post(f"/users/{superuser.id}", data={"role": "a"}).status_code == 200
    assert db.session.get(User, superuser.id).role == "*"


def test_last_superuser_cannot_be_removed(new_client, db, user, superuser):
    root = new_client()
    assert log_in(root, "root").status_code == 302
    admin = new_client()
    assert log_in(admin, "alice").status_code == 302

    assert root.post(f"/users/{superuser.id}/delete").status_code == 302
    assert admin.post(f"/users/{superuser.id}/delete").status_code == 403
    assert db.session.get(User, superuser.id).role == "*"

    # With a second superuser, one of them can go.
    second = accounts.create_user("second", PASSWORD, role="*")
    assert root.post(f"/users/{second.id}/delete").status_code == 302
    assert usernames(db) == ["alice", "root"]


def test_user_cannot_remove_themselves(logged_in, db, user):
    response = logged_in.post(f"/users/{user.id}/delete")
    assert response.status_code == 302
    assert "You cannot remove yourself." in text(logged_in.get("/users"))
    assert usernames(db) == ["alice"]
    assert logged_in.get("/sites").status_code == 200


def test_admin_removes_a_user(logged_in, new_client, db, user):
    bob_client, bob = logged_in_as(new_client, "bob", "s")
    assert logged_in.post(f"/users/{bob.id}/delete").status_code == 302
    assert usernames(db) == ["alice"]
    assert bob_client.get("/sites").status_code == 302  # the removed user's session is over
    assert logged_in.post("/users/999/delete").status_code == 404


def test_html_in_user_fields_is_escaped(logged_in, db, user):
    evil = "<img src=x onerror=alert(1)>"
    accounts.create_user("bob", PASSWORD, email=f"{evil}@example.org", role="r")
    page = text(logged_in.get("/users"))
    assert evil not in page
    assert "&lt;img src=x onerror=alert(1)&gt;@example.org" in page

    response = logged_in.post("/users", data=new_user(username=evil))
    assert response.status_code == 400
    assert evil not in text(response)
    assert usernames(db) == ["alice", "bob"]
