"""Umami's POST /api/collect (spec §6) and the Basic POST /collect, through the pipeline."""
import json

import jwt
import pytest
from sqlalchemy import select

from app import accounts
from app.ingest import ingest
from app.models import BotHit, Hit, Path, Url, VisitorSession

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")


def flush(db):
    ingest().flush()
    db.session.rollback()


def hits(db):
    return db.session.scalars(select(Hit).order_by(Hit.id)).all()


# --- Umami -----------------------------------------------------------------------------------

def pageview(site, **payload):
    body = {"website": site.uuid, "hostname": "example.com", "screen": "1920x1080",
            "language": "en-US", "cache": None, "url": "/docs?x=1",
            "referrer": "https://google.com/"}
    body.update(payload)
    return {"type": "pageview", "payload": body}


def collect(client, body, ua=CHROME, **kwargs):
    return client.post("/api/collect", json=body, headers={"User-Agent": ua}, **kwargs)


def test_umami_pageview_is_stored_and_answered_with_a_cache_token(client, db, site):
    response = collect(client, pageview(site))
    assert response.status_code == 200
    assert response.content_type == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    token = response.get_data(as_text=True)
    assert token.count(".") == 2 and not token.startswith('"')  # a raw JWT, not JSON-quoted
    assert jwt.get_unverified_header(token) == {"alg": "HS256"}
    assert jwt.decode(token, options={"verify_signature": False})["website_id"] == site.id
    flush(db)
    [row] = hits(db)
    assert db.session.get(Path, row.path_id).path == "/docs?x=1"
    assert db.session.get(Url, row.url_id).url == "/docs?x=1"
    assert db.session.get(Url, row.referrer_url_id).url == "https://google.com/"
    session = db.session.get(VisitorSession, row.session_id)
    assert (session.umami_browser, session.umami_os, session.device) == ("chrome", "Windows 10", "desktop")
    assert (session.screen, session.hostname) == ("1920x1080", "example.com")


def test_umami_event(client, db, site):
    body = {"type": "event", "payload": {"website": site.uuid, "url": "/docs",
                                         "event_type": "click", "event_value": "signup-button"}}
    assert collect(client, body).status_code == 200
    flush(db)
    [row] = hits(db)
    path = db.session.get(Path, row.path_id)
    assert (path.path, path.event, row.event_type) == ("signup-button", True, "click")
    assert db.session.get(Url, row.url_id).url == "/docs"


def test_umami_cache_token_is_accepted_back(client, db, site):
    token = collect(client, pageview(site)).get_data(as_text=True)
    again = pageview(site, cache=token, url="/second")
    again["payload"]["website"] = "not checked when the cache token is valid"
    assert collect(client, again).status_code == 200
    forged = pageview(site, cache=token[:-3] + "abc", url="/forged")
    forged["payload"]["website"] = "00000000-0000-0000-0000-000000000000"
    assert collect(client, forged).status_code == 400
    flush(db)
    assert [db.session.get(Path, r.path_id).path for r in hits(db)] == ["/docs?x=1", "/second"]


def test_umami_preflight(client):
    response = client.options("/api/collect", headers={
        "Origin": "https://example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Methods"] == "GET,HEAD,PUT,PATCH,POST,DELETE"
    assert response.headers["Access-Control-Allow-Headers"] == "content-type"
    assert "Access-Control-Request-Headers" in response.headers["Vary"]
    assert response.data == b""


@pytest.mark.parametrize("ua", [
    "curl/7.88.1", "python-requests/2.31", "Wget/1.21",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 HeadlessChrome/120.0 Safari/537.36"])
def test_umami_bots_get_an_empty_object(client, db, site, ua):
    response = collect(client, pageview(site), ua=ua)
    assert (response.status_code, response.get_data(as_text=True)) == (200, "{}")
    flush(db)
    assert hits(db) == []


@pytest.mark.parametrize("ua", ["", "Mozilla/5.0"])
def test_umami_keeps_what_isbot_keeps(client, db, site, ua):
    assert collect(client, pageview(site), ua=ua).get_data(as_text=True) != "{}"
    flush(db)
    assert len(hits(db)) == 1


@pytest.mark.parametrize("body, message", [
    ({"type": "pageview"}, "Invalid request"),
    ({"type": "pageview", "payload": "x"}, "Invalid request"),
    ({"type": "pageview", "payload": {"website": "nope", "url": "/"}}, "Invalid website: nope"),
    ({"type": "pageview", "payload": {"website": "6f3e0b7c-0000-4000-8000-000000000000", "url": "/"}},
     "Website not found: 6f3e0b7c-0000-4000-8000-000000000000"),
])
def test_umami_bad_payloads_are_400_plain_text(client, db, site, body, message):
    response = collect(client, body)
    assert (response.status_code, response.get_data(as_text=True)) == (400, message)
    assert "Content-Type" not in response.headers
    flush(db)
    assert hits(db) == []


@pytest.mark.parametrize("change", [{"url": None}, {"url": 5}, {"url": ""}])
def test_umami_missing_url_is_400_not_500(client, site, change):
    body = pageview(site)
    body["payload"].update(change)
    if change["url"] is None:
        del body["payload"]["url"]
    response = collect(client, body)
    assert (response.status_code, response.get_data(as_text=True)) == (400, "400 Bad Request")


def test_umami_unknown_type_and_missing_event_fields(client, site):
    body = pageview(site)
    body["type"] = "heartbeat"
    assert collect(client, body).get_data(as_text=True) == "400 Bad Request"
    event = {"type": "event", "payload": {"website": site.uuid, "url": "/", "event_type": "click"}}
    assert collect(client, event).status_code == 400


def test_umami_invalid_json_and_body_limit(client, site):
    response = client.post("/api/collect", data="{nope", content_type="application/json")
    assert (response.status_code, response.get_data(as_text=True)) == (400, "Invalid JSON")
    response = client.post("/api/collect", data=json.dumps(pageview(site)), content_type="text/plain")
    assert (response.status_code, response.get_data(as_text=True)) == (400, "Invalid request")
    big = json.dumps(pageview(site, url="/" + "x" * (1024 * 1024)))
    response = client.post("/api/collect", data=big, content_type="application/json")
    assert (response.status_code, response.get_data(as_text=True)) == (413, "Body exceeded 1mb limit")


def test_umami_ignored_ips(client, db, site):
    accounts.add_global_ignored_ip("10.0.0.0/8")
    response = collect(client, pageview(site), environ_base={"REMOTE_ADDR": "10.9.8.7"})
    assert (response.status_code, response.get_data(as_text=True)) == (200, "{}")
    flush(db)
    assert hits(db) == []
    assert db.session.scalar(select(BotHit.reason)) == "ignored-ip"


def test_umami_long_values_are_truncated_not_rejected(client, db, site):
    body = pageview(site, url="/" + "u" * 900, hostname="h" * 300, screen="1" * 30, language="l" * 99)
    assert collect(client, body).status_code == 200
    flush(db)
    [row] = hits(db)
    assert len(db.session.get(Url, row.url_id).url) == 500
    session = db.session.get(VisitorSession, row.session_id)
    assert len(session.hostname) == 100 and len(session.screen) == 11


# --- Basic -----------------------------------------------------------------------------------

def basic(client, body, origin="https://example.com", environ_base=None, **headers):
    if origin:
        headers["Origin"] = origin
    headers.setdefault("User-Agent", CHROME)
    return client.post("/collect", data=json.dumps(body) if not isinstance(body, str) else body,
                       content_type="application/json", headers=headers,
                       environ_base=environ_base or {})


def test_basic_collect_records_a_pageview(client, db, site):
    response = basic(client, {"path": "/page-path", "referrer": "https://example.org/",
                              "screen": "1280x720"})
    assert response.status_code == 204 and response.data == b""
    assert response.headers["Access-Control-Allow-Origin"] == "https://example.com"
    flush(db)
    [row] = hits(db)
    assert db.session.get(Path, row.path_id).path == "/page-path"
    assert row.width == 1280 and row.ip == "127.0.0.0"  # anonymised by default


@pytest.mark.parametrize("origin", ["https://www.example.com", "https://EXAMPLE.com:8443",
                                    "http://example.com/some/page"])
def test_basic_site_from_origin_host(client, db, site, origin):
    assert basic(client, {"path": "/x"}, origin=origin).status_code == 204
    flush(db)
    assert len(hits(db)) == 1


def test_basic_site_from_referer_and_www_registered(client, db):
    accounts.create_site("www.example.net")
    response = basic(client, {"path": "/r"}, origin=None, Referer="https://example.net/a")
    assert response.status_code == 204
    flush(db)
    assert len(hits(db)) == 1


def test_basic_unknown_domains_are_ignored_silently(client, db, site):
    assert basic(client, {"path": "/x"}, origin="https://unknown.example").status_code == 204
    flush(db)
    assert hits(db) == []


@pytest.mark.parametrize("body, origin, error", [
    ({"path": "/x"}, None, "missing origin or referer"),
    ("{not json", "https://example.com", "invalid json"),
    ({"referrer": "x"}, "https://example.com", "missing path"),
    ({"path": ""}, "https://example.com", "missing path"),
    (["/x"], "https://example.com", "invalid json"),
])
def test_basic_bad_requests(client, db, site, body, origin, error):
    response = basic(client, body, origin=origin)
    assert (response.status_code, response.get_json()) == (400, {"error": error})
    flush(db)
    assert hits(db) == []


def test_basic_preflight_and_ignore_list(client, db, site):
    response = client.options("/collect", headers={"Origin": "https://example.com",
                                                   "Access-Control-Request-Method": "POST"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://example.com"
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
    accounts.add_global_ignored_ip("192.0.2.1")
    response = basic(client, {"path": "/x"}, environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert response.status_code == 204
    flush(db)
    assert hits(db) == []


def test_basic_browser_and_system_with_versions(client, db, site):
    basic(client, {"path": "/v"})
    flush(db)
    [row] = hits(db)
    from app.models import Browser, System
    browser, system = db.session.get(Browser, row.browser_id), db.session.get(System, row.system_id)
    assert (browser.name, browser.version, system.name, system.version) == ("Chrome", "120", "Windows", "10")


def test_basic_204_has_no_content_type(client, site):
    response = basic(client, {"path": "/x"})
    assert response.status_code == 204 and "Content-Type" not in response.headers
