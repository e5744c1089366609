"""Umami websites (spec §8) mapped onto Ibex sites, the access rule of §4.7 and the method
rules of §5."""
import re

import pytest

from app import accounts
from tests.api.umami.conftest import umami_login

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_list_is_the_callers_sites_by_name(client, user, bob, token):
    accounts.create_site("b.example", name="Beta", owner=user)
    accounts.create_site("a.example", name="Alpha", owner=user)
    accounts.create_site("c.example", name="Bob's", owner=bob)
    response = client.get("/api/websites")
    assert response.status_code == 200
    assert [w["name"] for w in response.json] == ["Alpha", "Beta"]
    first = response.json[0]
    assert set(first) == {"website_id", "website_uuid", "user_id", "name", "domain",
                          "share_id", "created_at"}
    assert first["user_id"] == user.id and first["domain"] == "a.example"
    assert UUID.match(first["website_uuid"]) and STAMP.match(first["created_at"])
    assert first["share_id"] is None


def test_admin_may_list_another_users_sites_others_may_not(client, new_client, user, bob, token):
    accounts.create_site("c.example", name="Bob's", owner=bob)
    assert [w["name"] for w in client.get(f"/api/websites?user_id={bob.id}").json] == ["Bob's"]
    bobs = new_client()
    umami_login(bobs, "bob")
    assert bobs.get(f"/api/websites?user_id={user.id}").status_code == 401
    assert [w["name"] for w in bobs.get("/api/websites").json] == ["Bob's"]
    assert bobs.get("/api/websites?user_id=x").status_code == 400


def test_websites_checks_login_before_method(client, user):
    assert client.put("/api/websites").data == b"401 Unauthorized"
    umami_login(client, "alice")
    response = client.put("/api/websites")
    assert (response.status_code, response.data) == (405, b"405 Method Not Allowed")


def test_create_website_with_and_without_share(client, user, token):
    response = client.post("/api/website", json={"name": "Example", "domain": "example.com",
                                                 "enable_share_url": False})
    assert response.status_code == 200
    assert response.json["name"] == "Example" and response.json["domain"] == "example.com"
    assert response.json["share_id"] is None and response.json["user_id"] == user.id
    response = client.post("/api/website", json={"name": "Shared", "domain": "shared.example",
                                                 "enable_share_url": True})
    assert re.fullmatch(r"[A-Za-z0-9]{8}", response.json["share_id"])
    assert [w["name"] for w in client.get("/api/websites").json] == ["Example", "Shared"]


@pytest.mark.parametrize("body", [{"domain": "x.example"}, {"name": "", "domain": "x.example"},
                                  {"name": "X", "domain": "not a domain"}, {"name": "X"},
                                  {"name": ["X"], "domain": "x.example"}])
def test_create_with_bad_input_is_400(client, user, token, body):
    response = client.post("/api/website", json=body)
    assert response.status_code == 400
    assert response.data.startswith(b"400 Bad Request")


def test_website_requires_login_then_post(client, user):
    assert client.get("/api/website").status_code == 401
    umami_login(client, "alice")
    assert client.get("/api/website").data == b"405 Method Not Allowed"


def test_update_sets_given_fields_and_sharing(client, user, owned_site, token):
    response = client.post("/api/website", json={"website_id": owned_site.id, "name": "Renamed",
                                                 "enable_share_url": True})
    assert response.status_code == 200 and response.json == {}
    got = client.get(f"/api/website/{owned_site.id}").json
    assert got["name"] == "Renamed" and got["domain"] == "owned.example"
    share_id = got["share_id"]
    assert share_id
    client.post("/api/website", json={"website_id": owned_site.id, "enable_share_url": 1})
    assert client.get(f"/api/website/{owned_site.id}").json["share_id"] == share_id
    client.post("/api/website", json={"website_id": owned_site.id, "domain": "new.example"})
    got = client.get(f"/api/website/{owned_site.id}").json
    assert got["share_id"] is None and got["domain"] == "new.example"


def test_update_by_another_user_is_401_and_unknown_id_is_400(client, new_client, user, bob,
                                                             owned_site):
    bobs = new_client()
    umami_login(bobs, "bob")
    response = bobs.post("/api/website", json={"website_id": owned_site.id, "name": "Mine"})
    assert response.status_code == 401
    assert bobs.post("/api/website", json={"website_id": 9999, "name": "X"}).status_code == 400
    assert bobs.post("/api/website", json={"website_id": "1", "name": "X"}).status_code == 400


def test_get_website_access_rule(client, new_client, user, bob, owned_site):
    assert client.get(f"/api/website/{owned_site.id}").data == b"401 Unauthorized"
    bobs = new_client()
    umami_login(bobs, "bob")
    assert bobs.get(f"/api/website/{owned_site.id}").status_code == 401
    bobs_site = accounts.create_site("bob.example", name="Bob", owner=bob)
    assert bobs.get(f"/api/website/{bobs_site.id}").json["name"] == "Bob"
    umami_login(client, "alice")  # an admin reads every site
    assert client.get(f"/api/website/{bobs_site.id}").json["name"] == "Bob"
    assert client.get("/api/website/9999").data == b"401 Unauthorized"


def test_delete_website_then_everything_is_401(client, user, owned_site, token):
    response = client.delete(f"/api/website/{owned_site.id}")
    assert response.status_code == 200 and response.json == {}
    assert client.get(f"/api/website/{owned_site.id}").status_code == 401
    assert client.get(f"/api/website/{owned_site.id}/stats?start_at=0&end_at=1").status_code == 401
    assert client.get("/api/websites").json == []


def test_delete_needs_owner_or_admin(client, new_client, user, bob, owned_site):
    bobs = new_client()
    umami_login(bobs, "bob")
    assert bobs.delete(f"/api/website/{owned_site.id}").status_code == 401
    assert client.delete(f"/api/website/{owned_site.id}").status_code == 401


def test_website_id_routes_check_method_before_auth(client, owned_site):
    for path in ("", "/stats", "/pageviews", "/events", "/metrics", "/active"):
        response = client.put(f"/api/website/{owned_site.id}{path}")
        assert (response.status_code, response.data) == (405, b"405 Method Not Allowed"), path
        assert "Content-Type" not in response.headers
    assert client.post(f"/api/website/{owned_site.id}/stats").status_code == 405


def test_unknown_paths_are_404_in_plain_text(client):
    response = client.get("/api/website/abc")
    assert (response.status_code, response.data) == (404, b"404 Not Found")
    assert "Content-Type" not in response.headers


def test_no_cors_headers_outside_collect(client, user, token):
    response = client.get("/api/websites", headers={"Origin": "https://elsewhere.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
    response = client.options("/api/websites", headers={"Origin": "https://elsewhere.example",
                                                         "Access-Control-Request-Method": "GET"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_oversized_body_is_413(client, user, token):
    response = client.post("/api/website", data="{" + " " * (1024 * 1024 + 10) + "}",
                           content_type="application/json")
    assert (response.status_code, response.data) == (413, b"Body exceeded 1mb limit")
