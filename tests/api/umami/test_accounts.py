"""Umami's account endpoints (spec §9) over Ibex users: admin-only lists, no password hashes,
Umami's messages, and password changes that end the account's login tokens."""
from app import accounts
from tests.api.umami.conftest import umami_login
from tests.conftest import PASSWORD

FIELDS = {"user_id", "username", "is_admin", "created_at", "updated_at"}


def test_accounts_list_is_for_admins_and_has_no_password(client, new_client, user, bob, token):
    response = client.get("/api/accounts")
    assert response.status_code == 200
    assert [a["username"] for a in response.json] == ["alice", "bob"]
    assert all(set(a) == FIELDS for a in response.json)
    assert b"argon2" not in response.data and b"password" not in response.data
    assert [a["is_admin"] for a in response.json] == [True, False]
    bobs = new_client()
    umami_login(bobs, "bob")
    assert bobs.get("/api/accounts").data == b"401 Unauthorized"


def test_accounts_order_of_checks(client, new_client, user, bob):
    assert client.put("/api/accounts").status_code == 401
    bobs = new_client()
    umami_login(bobs, "bob")
    assert bobs.put("/api/accounts").status_code == 401  # admin check before method
    umami_login(client, "alice")
    assert client.put("/api/accounts").status_code == 405
    assert client.get("/api/account").status_code == 405
    assert client.put(f"/api/account/{bob.id}").status_code == 405
    assert bobs.put(f"/api/account/{bob.id}").status_code == 401


def test_admin_creates_accounts(client, user, token):
    response = client.post("/api/account", json={"username": "carol",
                                                 "password": "carol's password"})
    assert response.status_code == 200
    assert set(response.json) == FIELDS and response.json["is_admin"] is False
    response = client.post("/api/account", json={"username": "carol", "password": "x" * 10})
    assert (response.status_code, response.data) == (400, b"Account already exists")
    response = client.post("/api/account", json={"username": "dave", "password": "short"})
    assert response.status_code == 400
    assert client.post("/api/account", json={"username": "erin"}).status_code == 400


def test_non_admins_cannot_create_accounts(client, new_client, bob):
    umami_login(client, "bob")
    response = client.post("/api/account", json={"username": "x", "password": "x" * 10})
    assert response.status_code == 401


def test_update_own_password_ends_logins(client, new_client, bob):
    umami_login(client, "bob")
    response = client.post("/api/account", json={"user_id": bob.id, "password": "new password!",
                                                 "is_admin": True, "username": "bobby"})
    assert response.status_code == 200
    assert response.json["is_admin"] is False and response.json["username"] == "bob"
    assert client.get("/api/auth/verify").status_code == 401
    umami_login(new_client(), "bob", "new password!")


def test_admin_updates_others(client, user, bob, token):
    response = client.post("/api/account", json={"user_id": bob.id, "is_admin": True,
                                                 "username": "robert"})
    assert response.json["is_admin"] is True and response.json["username"] == "robert"
    response = client.post("/api/account", json={"user_id": bob.id, "username": "admin"})
    assert response.json["username"] == "robert"
    response = client.post("/api/account", json={"user_id": bob.id, "username": "alice"})
    assert (response.status_code, response.data) == (400, b"Account already exists")
    assert client.post("/api/account", json={"user_id": 999}).status_code == 400


def test_non_admin_cannot_update_others(client, user, bob):
    umami_login(client, "bob")
    assert client.post("/api/account", json={"user_id": user.id,
                                             "password": "hijacked!!"}).status_code == 401


def test_get_and_delete_account(client, new_client, user, bob, token):
    response = client.get(f"/api/account/{bob.id}")
    assert response.status_code == 200 and response.json["username"] == "bob"
    assert set(response.json) == FIELDS
    assert client.get("/api/account/999").status_code == 404
    bobs = new_client()
    bob_token = umami_login(bobs, "bob")
    assert bobs.get(f"/api/account/{user.id}").status_code == 401
    site, bob_id = accounts.create_site("bob.example", owner=bob), bob.id
    assert client.delete(f"/api/account/{bob_id}").json == {}
    assert client.get(f"/api/account/{bob_id}").status_code == 404
    assert new_client().get("/api/auth/verify", headers={
        "Authorization": f"Bearer {bob_token}"}).status_code == 401
    assert client.get(f"/api/website/{site.id}").json["user_id"] is None  # the site stays


def test_password_endpoint(client, new_client, user, bob):
    umami_login(client, "bob")
    body = {"user_id": bob.id, "current_password": "wrong", "new_password": "changed pass"}
    response = client.post("/api/account/password", json=body)
    assert (response.status_code, response.data) == (400, b"Current password is incorrect")
    body["current_password"] = PASSWORD
    response = client.post("/api/account/password", json=body)
    assert response.status_code == 200 and response.json["username"] == "bob"
    assert client.get("/api/auth/verify").status_code == 401
    umami_login(client, "bob", "changed pass")
    other = {"user_id": user.id, "current_password": PASSWORD, "new_password": "stolen pw!"}
    assert client.post("/api/account/password", json=other).status_code == 401
    assert client.post("/api/account/password", json={"user_id": str(bob.id)}).status_code == 401
    assert client.get("/api/account/password", json={"user_id": bob.id}).status_code == 405
    response = client.post("/api/account/password", json={"user_id": bob.id})
    assert response.status_code == 400


def test_admin_password_change_still_checks_current_password(client, user, bob, token):
    body = {"user_id": bob.id, "current_password": "wrong", "new_password": "changed pass"}
    assert client.post("/api/account/password", json=body).data == b"Current password is incorrect"
    body["current_password"] = PASSWORD
    assert client.post("/api/account/password", json=body).status_code == 200
