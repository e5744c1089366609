"""Umami's realtime view (spec §11): init with the caller's websites, a token and the last 30
minutes; update with that token from start_at."""
import time

from app import accounts
from tests.api.umami.conftest import umami_login


def test_init_and_update(client, user, owned_site, token, collect):
    collect(owned_site, url="/a", referrer="https://r.example/", at=time.time() - 60)
    collect(owned_site, "event", url="/a", event_type="click", event_value="go",
            at=time.time() - 50)
    collect(owned_site, url="/old", ua="Mozilla/5.0 (X11; Linux) Firefox/88.0",
            at=time.time() - 3600)
    response = client.get("/api/realtime/init")
    assert response.status_code == 200
    init = response.json
    assert [w["website_id"] for w in init["websites"]] == [owned_site.id]
    data = init["data"]
    assert set(data) == {"pageviews", "sessions", "events", "timestamp"}
    [view] = data["pageviews"]
    assert view["__id"] == f"p{view['view_id']}" and view["url"] == "/a"
    assert view["referrer"] == "https://r.example/" and view["website_id"] == owned_site.id
    [event] = data["events"]
    assert (event["__id"], event["event_type"], event["event_value"]) == (
        f"e{event['event_id']}", "click", "go")
    [session] = data["sessions"]
    assert session["__id"] == f"s{session['session_id']}"
    assert session["browser"] == "chrome" and session["os"] == "Windows 10"
    assert "password" not in response.get_data(as_text=True)

    headers = {"x-umami-token": init["token"]}
    later = client.get(f"/api/realtime/update?start_at={data['timestamp']}", headers=headers)
    assert later.status_code == 200
    assert later.json["pageviews"] == [] and later.json["timestamp"] >= data["timestamp"]
    earlier = client.get(f"/api/realtime/update?start_at={data['timestamp'] - 120000}",
                         headers=headers)
    assert len(earlier.json["pageviews"]) == 1


def test_update_needs_a_valid_token(client, user, token):
    assert client.get("/api/realtime/update").data == b"400 Bad Request"
    response = client.get("/api/realtime/update", headers={"x-umami-token": "forged"})
    assert response.status_code == 400


def test_realtime_needs_login_then_get(client, user):
    assert client.get("/api/realtime/init").status_code == 401
    assert client.post("/api/realtime/update").status_code == 401
    umami_login(client, "alice")
    assert client.post("/api/realtime/init").status_code == 405


def test_update_only_shows_sites_the_caller_still_manages(client, new_client, user, bob,
                                                          collect):
    site = accounts.create_site("bob.example", owner=bob)
    bobs = new_client()
    umami_login(bobs, "bob")
    realtime = bobs.get("/api/realtime/init").json["token"]
    collect(site, url="/x", at=time.time() - 5)
    headers = {"x-umami-token": realtime}
    assert len(bobs.get("/api/realtime/update", headers=headers).json["pageviews"]) == 1
    site.owner_id = user.id
    accounts.update_site(site, name="moved")
    assert bobs.get("/api/realtime/update", headers=headers).json["pageviews"] == []
