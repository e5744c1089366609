"""POST/GET /api/sites and DELETE /api/sites/{domain}: ordinary Ibex sites."""
import re

from sqlalchemy import func, select

from app import accounts
from app.models import Site


def test_create_returns_id_and_domain(client, db, auth, user):
    response = client.post("/api/sites", json={"domain": "example.com"}, headers=auth)
    assert response.status_code == 200
    site = db.session.scalars(select(Site)).one()
    assert response.json == {"id": site.id, "domain": "example.com"}
    # An ordinary site: active, owned by the token's user, visible to the UI's services.
    assert site.active and site.owner_id == user.id
    assert [s.id for s in accounts.active_sites()] == [site.id]


def test_existing_domain_returns_that_site_without_a_duplicate(client, db, auth):
    first = client.post("/api/sites", json={"domain": "example.com"}, headers=auth).json
    again = client.post("/api/sites", json={"domain": "example.com"}, headers=auth)
    assert again.status_code == 200 and again.json == first
    # The same host written differently is the same site.
    assert client.post("/api/sites", json={"domain": " Example.COM "},
                       headers=auth).json == first
    assert db.session.scalar(select(func.count()).select_from(Site)) == 1


def test_create_validation(client, db, auth):
    cases = [({}, "missing domain"), ({"domain": ""}, "missing domain"),
             ({"domain": "   "}, "missing domain"), ({"domain": None}, "missing domain"),
             ({"domain": 42}, "invalid domain"), ({"domain": ["a.com"]}, "invalid domain"),
             ({"domain": "not a domain"}, "invalid domain"),
             ({"domain": "exa_mple.com"}, "invalid domain"),
             ({"domain": "a\u0000b.com"}, "invalid domain"), ({"domain": "x" * 300}, "invalid domain")]
    for body, message in cases:
        response = client.post("/api/sites", json=body, headers=auth)
        assert (response.status_code, response.json) == (400, {"error": message}), body
    for raw in (b"{", b"nonsense", b"[1, 2]", b'"example.com"', b"\xff\xfe"):
        response = client.post("/api/sites", data=raw, headers={**auth,
                               "Content-Type": "application/json"})
        assert (response.status_code, response.json) == (400, {"error": "invalid json"}), raw
    # An empty body is an empty object: the domain is missing.
    response = client.post("/api/sites", headers=auth)
    assert (response.status_code, response.json) == (400, {"error": "missing domain"})
    assert db.session.scalar(select(func.count()).select_from(Site)) == 0


def test_json_body_is_read_whatever_the_content_type(client, auth):
    # curl -d sends application/x-www-form-urlencoded unless told otherwise.
    response = client.post("/api/sites", data='{"domain": "example.org"}', headers=auth,
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and response.json["domain"] == "example.org"


def test_list_sites_with_rfc3339_timestamps(client, auth):
    a = client.post("/api/sites", json={"domain": "a.example"}, headers=auth).json
    b = client.post("/api/sites", json={"domain": "b.example"}, headers=auth).json
    response = client.get("/api/sites", headers=auth)
    assert response.status_code == 200
    assert [(s["id"], s["domain"]) for s in response.json] == [(a["id"], "a.example"),
                                                                (b["id"], "b.example")]
    for listed in response.json:
        assert set(listed) == {"id", "domain", "created_at"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", listed["created_at"])


def test_delete_is_idempotent_and_follows_the_ui_rules(client, db, auth):
    created = client.post("/api/sites", json={"domain": "example.com"}, headers=auth).json
    response = client.delete("/api/sites/example.com", headers=auth)
    assert response.status_code == 204 and response.data == b""
    site = db.session.get(Site, created["id"])
    assert site.state == "d"  # soft-deleted, as the UI deletes: data kept, hidden
    assert client.get("/api/sites", headers=auth).json == []
    for domain in ("example.com", "never-registered.org", "not a domain!", "a%00b.com",
                   "x" * 300):
        assert client.delete(f"/api/sites/{domain}", headers=auth).status_code == 204
    # The domain can be registered again, as a new site.
    again = client.post("/api/sites", json={"domain": "example.com"}, headers=auth).json
    assert again["id"] != created["id"]


def test_token_restricted_to_sites_and_permissions(client, user):
    keep = accounts.create_site("keep.example")
    other = accounts.create_site("other.example")
    _t, secret = accounts.create_token(user, "one site", accounts.permission_bits(["all"]),
                                       [keep.id])
    headers = {"Authorization": f"Bearer {secret}"}
    assert [s["domain"] for s in client.get("/api/sites", headers=headers).json] == [
        "keep.example"]
    response = client.delete("/api/sites/other.example", headers=headers)
    assert response.status_code == 403 and set(response.json) == {"error"}
    assert other.active
    _t, reader = accounts.create_token(user, "reader", accounts.permission_bits(["site-read"]))
    headers = {"Authorization": f"Bearer {reader}"}
    assert client.get("/api/sites", headers=headers).status_code == 200
    response = client.post("/api/sites", json={"domain": "new.example"}, headers=headers)
    assert response.status_code == 403 and set(response.json) == {"error"}
    assert client.delete("/api/sites/keep.example", headers=headers).status_code == 403
