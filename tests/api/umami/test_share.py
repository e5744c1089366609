"""Share links (spec §10) and share-token access (§4.7): only real share tokens pass
x-umami-token — never the collect cache token, never after sharing is turned off."""
import pytest

from app.api.umami import services
from app.extensions import db
from tests.api.umami.conftest import umami_login

STATS = "stats?start_at=0&end_at=1"


@pytest.fixture
def shared(app, owned_site):
    owned_site.share_id = "AbCd1234"
    db.session.commit()
    return owned_site


def share_token(client, share_id="AbCd1234"):
    response = client.get(f"/api/share/{share_id}")
    assert response.status_code == 200, response.data
    return response.json


def test_share_link_answers_website_id_and_token(client, shared):
    answer = share_token(client)
    assert set(answer) == {"websiteId", "token"}
    assert answer["websiteId"] == shared.id
    assert answer["token"].count(".") == 2


def test_unknown_share_id_is_404_and_other_verbs_405(client, shared):
    assert client.get("/api/share/nope").data == b"404 Not Found"
    response = client.post("/api/share/AbCd1234")
    assert (response.status_code, response.data) == (405, b"405 Method Not Allowed")


def test_share_token_reads_every_statistic_of_its_site(client, shared):
    headers = {"x-umami-token": share_token(client)["token"]}
    for path in ("", f"/{STATS}", "/pageviews?start_at=0&end_at=1&unit=day&tz=UTC",
                 "/events?start_at=0&end_at=1&unit=day&tz=UTC",
                 "/metrics?start_at=0&end_at=1&type=url", "/active"):
        response = client.get(f"/api/website/{shared.id}{path}", headers=headers)
        assert response.status_code == 200, path


def test_share_token_is_for_its_own_site_only(client, shared, user):
    from app import accounts
    other = accounts.create_site("other.example", owner=user)
    headers = {"x-umami-token": share_token(client)["token"]}
    assert client.get(f"/api/website/{other.id}/{STATS}", headers=headers).status_code == 401


def test_share_token_header_decides_alone(client, shared, user):
    umami_login(client, "alice")  # a valid cookie does not rescue a bad share token
    response = client.get(f"/api/website/{shared.id}/{STATS}", headers={"x-umami-token": "bad"})
    assert response.status_code == 401
    # "undefined" (the dashboard without a share token) and "" fall back to the cookie
    for value in ("undefined", ""):
        response = client.get(f"/api/website/{shared.id}/{STATS}",
                              headers={"x-umami-token": value})
        assert response.status_code == 200


def test_collect_cache_token_never_passes_as_share_token(client, shared):
    response = client.post("/api/collect", json={"type": "pageview", "payload": {
        "website": shared.uuid, "url": "/", "hostname": "owned.example"}},
        headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/88.0"})
    assert response.status_code == 200
    cache = response.get_data(as_text=True)
    assert cache.count(".") == 2
    response = client.get(f"/api/website/{shared.id}/{STATS}", headers={"x-umami-token": cache})
    assert (response.status_code, response.data) == (401, b"401 Unauthorized")


def test_turning_sharing_off_ends_its_tokens(client, shared):
    headers = {"x-umami-token": share_token(client)["token"]}
    services.update_website(shared, None, None, False)
    assert client.get(f"/api/website/{shared.id}/{STATS}", headers=headers).status_code == 401
    assert client.get("/api/share/AbCd1234").status_code == 404
    services.update_website(shared, None, None, True)  # a new share id: old tokens stay dead
    assert client.get(f"/api/website/{shared.id}/{STATS}", headers=headers).status_code == 401


def test_share_token_never_deletes(client, shared):
    headers = {"x-umami-token": share_token(client)["token"]}
    assert client.delete(f"/api/website/{shared.id}", headers=headers).status_code == 401
    assert client.get(f"/api/website/{shared.id}", headers=headers).status_code == 200
