"""GET|POST /api/v0/test (spec §5.12): decoding first, then authentication with the
requested permission bits, then the requested outcome."""
import pytest

from app import accounts


def auth(secret):
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def headers(api_token):
    return auth(api_token.secret)


def test_get_echoes_the_parsed_arguments(client, headers):
    response = client.get("/api/v0/test?perm=8&context=false", headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {"perm": 8, "status": 0, "panic": False, "validate": None,
                                   "context": False}


def test_post_takes_a_json_body(client, headers):
    response = client.post("/api/v0/test", headers=headers, json={"perm": 64})
    assert response.status_code == 200 and response.get_json()["perm"] == 64
    response = client.post("/api/v0/test", headers={**headers, "Content-Type": "application/json"})
    assert response.status_code == 200 and response.get_json()["perm"] == 0


def test_context(client, site, headers, db):
    response = client.get("/api/v0/test?context=1", headers=headers)
    assert response.get_json() == {"site_id": site.id, "serve": True,
                                   "db": db.engine.dialect.name}


def test_status_is_answered(client, headers):
    for status in (201, 400, 404, 418, 503):
        response = client.get(f"/api/v0/test?status={status}", headers=headers)
        assert response.status_code == status
        assert response.get_json() == {"error": f"status {status}"}


def test_status_500_is_the_generic_500(client, headers):
    response = client.post("/api/v0/test", headers=headers, json={"status": 500})
    assert response.status_code == 500
    assert response.get_json()["error"].startswith("unexpected error code ‘")


def test_panic_is_a_500(client, headers):
    response = client.post("/api/v0/test", headers=headers, json={"panic": True})
    assert response.status_code == 500
    assert response.get_json()["error"].endswith("this has been reported for investigation")


def test_validate_is_echoed_as_validation_errors(client, headers):
    errors = {"b": ["must be set"], "a": ["x", "y"]}
    response = client.post("/api/v0/test", headers=headers, json={"validate": {"errors": errors}})
    assert response.status_code == 400
    assert response.get_json() == {"errors": {"a": ["x", "y"], "b": ["must be set"]}}
    assert list(response.get_json()["errors"]) == ["a", "b"]


@pytest.mark.parametrize("perm, needed", [(2, "'count'"), (64, "'stats'"),
                                          (2 | 4, "'count', 'export'")])
def test_perm_is_required(client, user, site, perm, needed):
    token, secret = accounts.create_token(user, "site-read only", permissions=8)
    response = client.get(f"/api/v0/test?perm={perm}", headers=auth(secret))
    assert response.status_code == 403
    assert response.get_json() == {"error": f"requires {needed} permissions"}
    assert client.get("/api/v0/test?perm=8", headers=auth(secret)).status_code == 200
    assert client.get("/api/v0/test?perm=0", headers=auth(secret)).status_code == 200


def test_decoding_comes_before_authentication(client, site):
    response = client.get("/api/v0/test?nope=1")
    assert response.status_code == 400
    assert response.get_json() == {"error": 'unknown parameter: "nope"'}
    response = client.post("/api/v0/test", json={"perm": "x"})
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("invalid JSON: perm: ")
    response = client.get("/api/v0/test")
    assert response.status_code == 401
    assert response.get_json() == {"error": "no Authorization header"}


@pytest.mark.parametrize("query", ["status=x", "status=99", "status=600", "panic=maybe",
                                   "perm=1.5"])
def test_bad_values_are_invalid_query_parameters(client, headers, query):
    response = client.get(f"/api/v0/test?{query}", headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("invalid query parameters: ")


def test_camel_case_aliases(client, headers):
    response = client.get("/api/v0/test?Perm=8&Status=0", headers=headers)
    assert response.status_code == 200 and response.get_json()["perm"] == 8
