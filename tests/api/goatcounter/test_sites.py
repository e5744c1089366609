"""GET/PUT /api/v0/sites and GET/POST/PATCH /api/v0/sites/{id} (spec §5.13, §5.14): the Site
object with its `setttings` key and string-encoded lists, replace versus merge, validation,
uniqueness, id parsing and permissions."""
import pytest

from app import accounts
from app.extensions import db
from app.models import Site

SITE_KEYS = ["id", "parent", "cname", "cname_setup_at", "code", "link_domain", "setttings",
             "user_defaults", "received_data", "state", "created_at", "updated_at", "first_hit_at"]
SETTINGS_KEYS = ["public", "secret", "allow_counter", "allow_bosmang", "data_retention",
                 "ignore_ips", "collect", "collect_regions", "allow_embed"]


def auth(secret):
    return {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}


@pytest.fixture
def headers(api_token):
    """The all-sites token, addressing example.com by its Host (once child sites exist, the
    "only site" rule no longer picks it)."""
    return {**auth(api_token.secret), "Host": "example.com"}


def token_with(user, *permissions):
    token, secret = accounts.create_token(user, "limited", accounts.permission_bits(permissions))
    return auth(secret)


def test_get_site_is_the_goatcounter_object(client, site, headers):
    response = client.get(f"/api/v0/sites/{site.id}", headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == SITE_KEYS
    assert list(body["setttings"]) == SETTINGS_KEYS
    assert body["id"] == site.id and body["parent"] is None and body["cname"] == "example.com"
    assert body["code"] == site.code and body["state"] == "a" and body["link_domain"] == ""
    assert body["setttings"] == {
        "public": "private", "secret": "", "allow_counter": False, "allow_bosmang": False,
        "data_retention": 0, "ignore_ips": "", "collect": 190, "collect_regions": "US,RU,CN",
        "allow_embed": ""}
    assert body["user_defaults"]["language"] == "en-GB"
    assert body["received_data"] is False and body["updated_at"] is None
    assert body["created_at"].endswith("Z") and body["cname_setup_at"].endswith("Z")


def test_lists_are_comma_joined_strings(client, site, headers):
    accounts.set_ignored_ips(site, ["192.0.2.1", "2001:db8::1", "10.0.0.0/8"])
    settings = client.get(f"/api/v0/sites/{site.id}", headers=headers).get_json()["setttings"]
    assert settings["ignore_ips"] == "10.0.0.0/8,192.0.2.1,2001:db8::1"


def test_list_sites_is_the_addressed_site_then_its_children_by_code(client, site, headers):
    for cname in ("b.example", "a.example"):
        assert client.put("/api/v0/sites", json={"cname": cname}, headers=headers).status_code == 200
    unrelated = accounts.create_site("unrelated.example")
    deleted = client.put("/api/v0/sites", json={"cname": "gone.example"}, headers=headers)
    accounts.delete_site(db.session.get(Site, deleted.get_json()["id"]))
    response = client.get("/api/v0/sites", headers={**headers, "Host": "example.com"})
    assert response.status_code == 200
    sites = response.get_json()["sites"]
    assert sites[0]["id"] == site.id
    children = sites[1:]
    assert {child["cname"] for child in children} == {"a.example", "b.example"}
    assert [child["code"] for child in children] == sorted(child["code"] for child in children)
    assert unrelated.id not in [entry["id"] for entry in sites]


def test_put_creates_a_child_site(client, site, headers):
    response = client.put("/api/v0/sites", headers=headers, json={
        "cname": "New.Example", "code": "ignored", "id": 999, "parent": 5,
        "link_domain": "https://example.org/", "setttings": {
            "public": "public", "collect": 2 | 32, "collect_regions": "NL, de",
            "ignore_ips": "192.0.2.7", "allow_embed": ["https://embed.example"]}})
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert body["id"] != 999 and body["parent"] == site.id
    assert body["cname"] == "new.example" and body["code"].startswith("serve-")
    assert body["link_domain"] == "https://example.org"
    assert body["setttings"]["public"] == "public"
    assert body["setttings"]["collect"] == 2 | 16 | 32  # region implies location
    assert body["setttings"]["collect_regions"] == "NL,DE"
    assert body["setttings"]["ignore_ips"] == "192.0.2.7"
    assert body["setttings"]["allow_embed"] == "https://embed.example"
    assert body["state"] == "a" and body["updated_at"] is None
    stored = db.session.get(Site, body["id"])
    assert stored.parent_id == site.id and stored.setting("ip_mode") == "anonymised"
    assert client.get(f"/api/v0/sites/{body['id']}", headers=headers).get_json() == body


def test_put_defaults_and_the_settings_spelling(client, site, headers):
    response = client.put("/api/v0/sites", headers=headers,
                          json={"cname": "plain.example", "settings": {"allow_counter": True}})
    assert response.status_code == 200, response.data
    settings = response.get_json()["setttings"]
    assert settings["collect"] == 190 and settings["collect_regions"] == "US,RU,CN"
    assert settings["public"] == "private" and settings["allow_counter"] is True


@pytest.mark.parametrize("body, errors", [
    ({}, {"cname": ["must be set"]}),
    ({"cname": ""}, {"cname": ["must be set"]}),
    ({"cname": "not a domain"}, {"cname": ["must be a valid domain"]}),
    ({"cname": "example.com"}, {"cname": ["already exists"]}),
    ({"cname": "EXAMPLE.com"}, {"cname": ["already exists"]}),
    ({"cname": "x.example", "setttings": {"public": "nope"}},
     {"settings.public": ["must be one of ‘private, secret, public’"]}),
    ({"cname": "x.example", "setttings": {"public": "secret", "secret": "short"}},
     {"settings.secret": ["must be longer than 8 characters"]}),
    ({"cname": "x.example", "setttings": {"public": "secret", "secret": "not alpha numeric!"}},
     {"settings.secret": ["must be alphanumeric"]}),
    ({"cname": "x.example", "setttings": {"data_retention": 30}},
     {"settings.data_retention": ["must be 31 or higher"]}),
    ({"cname": "x.example", "setttings": {"data_retention": 1826}},
     {"settings.data_retention": ["must be 1825 or lower"]}),
    ({"cname": "x.example", "setttings": {"ignore_ips": "1.2.3.4,nope"}},
     {"settings.ignore_ips": ["must be a valid IPv4 or IPv6 address"]}),
    ({"cname": "x.example", "setttings": {"collect_regions": "US,XX"}},
     {"settings.collect_regions": ["must be a valid country code, not ‘XX’"]}),
    ({"cname": "x.example", "setttings": {"allow_embed": "*"}},
     {"settings.allow_embed": ["cannot be ‘*’"]}),
    ({"cname": "x.example", "setttings": {"allow_embed": "["}},  # found by the fuzzer: was a 500
     {"settings.allow_embed": ["must be a valid url"]}),
    ({"cname": "x.example", "setttings": {"collect": 1024}},
     {"settings.collect": ["must be 511 or lower"]}),
    ({"setttings": {"public": "nope"}},
     {"cname": ["must be set"], "settings.public": ["must be one of ‘private, secret, public’"]}),
])
def test_put_validation_errors(client, site, headers, body, errors):
    response = client.put("/api/v0/sites", headers=headers, json=body)
    assert response.status_code == 400
    assert response.get_json() == {"errors": errors}
    assert db.session.query(Site).count() == 1


@pytest.mark.parametrize("body, message", [
    ({"cname": "x.example", "bogus": 1}, 'unknown parameter: "bogus"'),
    ({"cname": "x.example", "setttings": {"colect": 2}}, 'unknown parameter: "colect"'),
    ({"cname": 5}, "invalid JSON: "),
    ({"cname": "x.example", "setttings": {"collect": "190"}}, "invalid JSON: "),
    ({"cname": "x.example", "setttings": {"allow_counter": "yes"}}, "invalid JSON: "),
    ({"cname": "x.example", "setttings": {"ignore_ips": [1, 2]}}, "invalid JSON: "),
])
def test_put_decoding_errors(client, site, headers, body, message):
    response = client.put("/api/v0/sites", headers=headers, json=body)
    assert response.status_code == 400
    assert response.get_json()["error"].startswith(message)


def _update(client, headers, site, method, body):
    response = client.open(f"/api/v0/sites/{site.id}", method=method, headers=headers, json=body)
    assert response.status_code == 200, response.data
    return response.get_json()


@pytest.fixture
def configured(client, site, headers):
    """The site with non-default settings everywhere."""
    _update(client, headers, site, "POST", {
        "cname": "example.com", "link_domain": "example.org",
        "settings": {"public": "secret", "secret": "abcdefgh12", "allow_counter": True,
                     "data_retention": 90, "ignore_ips": "192.0.2.1", "collect": 2 | 4 | 256,
                     "collect_regions": "NL", "allow_embed": "https://a.example"}})
    return site


def test_patch_changes_only_what_is_sent(client, configured, headers):
    body = _update(client, headers, configured, "PATCH", {"settings": {"allow_counter": False}})
    assert body["cname"] == "example.com" and body["link_domain"] == "example.org"
    assert body["setttings"] == {
        "public": "secret", "secret": "abcdefgh12", "allow_counter": False, "allow_bosmang": False,
        "data_retention": 90, "ignore_ips": "192.0.2.1", "collect": 2 | 4 | 256,
        "collect_regions": "NL", "allow_embed": "https://a.example"}
    assert body["updated_at"] is not None


def test_patch_ors_collect_flags(client, configured, headers):
    body = _update(client, headers, configured, "PATCH", {"settings": {"collect": 8}})
    assert body["setttings"]["collect"] == 2 | 4 | 8 | 256


def test_post_replaces_and_resets_what_is_not_sent(client, configured, headers):
    body = _update(client, headers, configured, "POST", {"cname": "example.com",
                                                         "settings": {"collect": 8}})
    assert body["link_domain"] == ""
    assert body["setttings"] == {
        "public": "private", "secret": "", "allow_counter": False, "allow_bosmang": False,
        "data_retention": 0, "ignore_ips": "", "collect": 8, "collect_regions": "US,RU,CN",
        "allow_embed": ""}


def test_post_keeps_ibex_own_settings(client, site, headers):
    accounts.update_site(site, settings={"ip_mode": "none", "dnt": True})
    _update(client, headers, site, "POST", {"cname": "example.com"})
    db.session.refresh(site)
    assert site.setting("ip_mode") == "none" and site.setting("dnt") is True


def test_post_changes_the_cname(client, site, headers):
    body = _update(client, headers, site, "POST", {"cname": "renamed.example",
                                                   "link_domain": "https://x.example/"})
    assert body["cname"] == "renamed.example" and body["link_domain"] == "https://x.example"
    assert body["code"] == site.code


def test_post_without_cname_fails_in_self_hosted_mode(client, site, headers):
    response = client.post(f"/api/v0/sites/{site.id}", headers=headers, json={})
    assert response.status_code == 400
    assert response.get_json() == {"errors": {"cname": ["must be set"]}}


def test_update_accepts_arrays_and_the_setttings_spelling(client, site, headers):
    body = _update(client, headers, site, "PATCH", {"setttings": {
        "ignore_ips": ["192.0.2.1", "192.0.2.2"], "collect_regions": ["de"]}})
    assert body["setttings"]["ignore_ips"] == "192.0.2.1,192.0.2.2"
    assert body["setttings"]["collect_regions"] == "DE"


def test_update_ignores_read_only_fields_and_refuses_others(client, site, headers):
    body = _update(client, headers, site, "PATCH", {"id": 77, "parent": 3,
                                                    "cname_setup_at": "2020-01-01T00:00:00Z"})
    assert body["id"] == site.id and body["parent"] is None
    response = client.patch(f"/api/v0/sites/{site.id}", headers=headers, json={"code": "x"})
    assert response.status_code == 400
    assert response.get_json() == {"error": 'unknown parameter: "code"'}


def test_update_validation_errors_change_nothing(client, configured, headers):
    response = client.patch(f"/api/v0/sites/{configured.id}", headers=headers, json={
        "settings": {"data_retention": 5, "ignore_ips": "192.0.2.9", "public": "public"}})
    assert response.status_code == 400
    assert response.get_json() == {"errors": {"settings.data_retention": ["must be 31 or higher"]}}
    settings = client.get(f"/api/v0/sites/{configured.id}", headers=headers).get_json()["setttings"]
    assert settings["ignore_ips"] == "192.0.2.1" and settings["public"] == "secret"


def test_update_to_a_taken_cname(client, site, headers):
    child = client.put("/api/v0/sites", headers=headers, json={"cname": "child.example"}).get_json()
    response = client.patch(f"/api/v0/sites/{child['id']}", headers=headers,
                            json={"cname": "Example.com"})
    assert response.status_code == 400
    assert response.get_json() == {"errors": {"cname": ["already exists"]}}


def test_children_are_reachable_other_sites_are_not(client, site, headers):
    child = client.put("/api/v0/sites", headers=headers, json={"cname": "child.example"}).get_json()
    other = accounts.create_site("other.example")
    on_site = {**headers, "Host": "example.com"}
    assert client.get(f"/api/v0/sites/{child['id']}", headers=on_site).status_code == 200
    assert _update(client, on_site, db.session.get(Site, child["id"]), "PATCH",
                   {"link_domain": "l.example"})["link_domain"] == "l.example"
    for method in ("GET", "POST", "PATCH"):
        for site_id in (other.id, 12345):
            response = client.open(f"/api/v0/sites/{site_id}", method=method, headers=on_site,
                                   json={"cname": "z.example"} if method != "GET" else None)
            assert response.status_code == 404, (method, site_id)
            assert response.get_json() == {"error": "not found"}
    # Addressing the child: the parent is not one of its children.
    on_child = {**headers, "Host": "child.example"}
    assert client.get(f"/api/v0/sites/{site.id}", headers=on_child).status_code == 404


@pytest.mark.parametrize("site_id", ["abc", "1.5", "2147483648", "-2147483649", "99999999999999"])
def test_site_id_must_be_a_32_bit_number(client, site, headers, site_id):
    for method in ("GET", "POST", "PATCH"):
        response = client.open(f"/api/v0/sites/{site_id}", method=method, headers=headers,
                               json={} if method != "GET" else None)
        assert response.status_code == 400
        assert response.get_json() == {"errors": {"id": ["must be a whole number"]}}


def test_largest_32_bit_id_is_just_not_found(client, site, headers):
    response = client.get("/api/v0/sites/2147483647", headers=headers)
    assert response.status_code == 404


@pytest.mark.parametrize("method, path, needed", [
    ("GET", "/api/v0/sites", "site-read"),
    ("GET", "/api/v0/sites/1", "site-read"),
    ("PUT", "/api/v0/sites", "site-create"),
    ("POST", "/api/v0/sites/1", "site-update"),
    ("PATCH", "/api/v0/sites/1", "site-update"),
])
def test_permissions(client, user, site, method, path, needed):
    others = [name for name in ("count", "export", "site-read", "site-create", "site-update",
                                "stats") if name != needed]
    body = {"cname": "perm.example"} if method != "GET" else None
    response = client.open(path, method=method, headers=token_with(user, *others), json=body)
    assert response.status_code == 403
    assert response.get_json() == {"error": f"requires '{needed}' permissions"}
    response = client.open(path, method=method, headers=token_with(user, needed), json=body)
    assert response.status_code == 200, response.data


@pytest.mark.parametrize("method, path", [("GET", "/api/v0/sites"), ("PUT", "/api/v0/sites"),
                                          ("GET", "/api/v0/sites/1"), ("PATCH", "/api/v0/sites/1")])
def test_authentication_comes_before_decoding(client, site, method, path):
    response = client.open(path, method=method, json={"bogus": 1} if method != "GET" else None)
    assert response.status_code == 401
    assert response.get_json() == {"error": "no Authorization header"}
    response = client.open("/api/v0/sites/abc", method="GET")
    assert response.status_code == 401
