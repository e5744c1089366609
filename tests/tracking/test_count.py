"""GoatCounter's /count pixel (spec §7) and count API (spec §6, §16.4), through the pipeline."""
import base64
from datetime import datetime

import pytest
from sqlalchemy import func, select

from app import accounts
from app.ingest import ingest
from app.models import BotHit, Hit, Path, Ref, Site
from app.tracking.routes import GIF

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:79.0) Gecko/20100101 Firefox/79.0"


def flush(db):
    ingest().flush()
    db.session.rollback()


def hits(db):
    return db.session.scalars(select(Hit).order_by(Hit.id)).all()


def path_of(db, row):
    return db.session.get(Path, row.path_id).path


# --- /count ----------------------------------------------------------------------------------

def get_count(client, query="", **headers):
    headers.setdefault("User-Agent", FIREFOX)
    return client.get("/count?" + query, headers=headers)


def test_pixel_records_a_pageview(client, db, site):
    response = get_count(client, "p=/hello&t=Hello&r=https://news.ycombinator.com/&s=1920&rnd=x",
                         Host="example.com")
    assert response.status_code == 200
    assert response.data == GIF and len(GIF) == 43
    assert response.mimetype == "image/gif"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert response.headers["Cache-Control"] == "no-store,no-cache"
    flush(db)
    [row] = hits(db)
    assert path_of(db, row) == "/hello" and row.width == 1920
    ref = db.session.get(Ref, row.ref_id)
    assert (ref.ref, ref.ref_scheme) == ("Hacker News", "g")


def test_post_works_for_send_beacon(client, db, site):
    assert client.post("/count?p=/beacon", headers={"User-Agent": FIREFOX}).status_code == 200
    flush(db)
    assert [path_of(db, r) for r in hits(db)] == ["/beacon"]


def test_events(client, db, site):
    get_count(client, "p=/signup-click&e=true&t=Sign+up")
    get_count(client, "p=/&e=TRUE")
    flush(db)
    names = sorted(path_of(db, r) for r in hits(db))
    assert names == ["(no event name)", "signup-click"]


@pytest.mark.parametrize("query, status, reason", [
    ("p=/x&e=maybe", 400, "error decoding parameters"),
    ("p=/x&s=xxx", 400, "error decoding parameters"),
    ("p=/x&b=12", 400, "wrong value: b=12"),
    ("p=/x&b=abc", 400, "error decoding parameters"),
    ("", 400, "not valid: path: must be set, must be longer than 1 characters."),
    ("p=/" + "a" * 2048, 400, "ignored because path is longer than 2048 bytes (2049 bytes)"),
    ("p=/x&t=" + "t" * 1025, 400, "not valid: title: must be shorter than 1024 characters."),
])
def test_invalid_parameters(client, db, site, query, status, reason):
    response = get_count(client, query)
    assert response.status_code == status
    assert response.headers["X-Goatcounter"].startswith(reason)
    assert response.data == GIF
    flush(db)
    assert hits(db) == []


def test_long_user_agent_is_invalid(client, site):
    response = get_count(client, "p=/x", **{"User-Agent": "Mozilla/5.0 " + "x" * 600})
    assert response.status_code == 400
    assert "user_agent: must be shorter than 512 characters" in response.headers["X-Goatcounter"]


@pytest.mark.parametrize("header", [{"X-Moz": "prefetch"}, {"Purpose": "preview"},
                                    {"X-Purpose": "prefetch"}])
def test_prefetch_is_not_recorded(client, db, site, header):
    response = get_count(client, "p=/x", **header)
    assert response.status_code == 200
    flush(db)
    assert hits(db) == [] and db.session.scalar(select(func.count()).select_from(BotHit)) == 0


def test_ignored_ips_get_202_and_are_counted_as_filtered(client, db, site):
    accounts.set_ignored_ips(site, ["10.0.0.0/8"])
    response = client.get("/count?p=/x", headers={"User-Agent": FIREFOX},
                          environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert response.status_code == 202
    assert response.headers["X-Goatcounter"] == 'ignored because "10.1.2.3" is in the IP ignore list'
    accounts.add_global_ignored_ip("198.51.100.0/24")
    assert client.get("/count?p=/y", headers={"User-Agent": FIREFOX},
                      environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code == 202
    assert client.get("/count?p=/z", headers={"User-Agent": FIREFOX},
                      environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 200
    flush(db)
    assert [path_of(db, r) for r in hits(db)] == ["/z"]
    assert sorted(db.session.scalars(select(BotHit.reason))) == ["ignored-ip", "ignored-ip"]


def test_do_not_track_when_the_site_asks_for_it(client, db, site):
    assert get_count(client, "p=/a", DNT="1").status_code == 200  # off by default
    accounts.update_site(site, settings={"dnt": True})
    assert get_count(client, "p=/b", DNT="1").status_code == 202
    assert get_count(client, "p=/c", **{"Sec-GPC": "1"}).status_code == 202
    flush(db)
    assert [path_of(db, r) for r in hits(db)] == ["/a"]


def test_site_is_chosen_by_host_then_page_then_the_only_site(client, db, site):
    other = accounts.create_site("other.example")
    assert get_count(client, "p=/by-host", Host="other.example").status_code == 200
    assert get_count(client, "p=/by-referer", Host="stats.example.net",
                     Referer="https://www.example.com/page").status_code == 200
    response = get_count(client, "p=/nowhere", Host="stats.example.net")
    assert response.status_code == 400
    assert response.headers["X-Goatcounter"] == 'no site at this domain ("stats.example.net")'
    flush(db)
    assert {(r.site_id, path_of(db, r)) for r in hits(db)} == {
        (other.id, "/by-host"), (site.id, "/by-referer")}


def test_bots_answer_200_but_are_not_counted(client, db, site):
    assert get_count(client, "p=/x", **{"User-Agent": "curl/7.8"}).status_code == 200
    assert get_count(client, "p=/y&b=153").status_code == 200
    flush(db)
    assert hits(db) == []
    assert sorted(db.session.scalars(select(BotHit.bot))) == [7, 153]


# --- /api/v0/count ---------------------------------------------------------------------------

def api(client, token, body, **headers):
    headers.setdefault("Authorization", "Bearer " + token.secret)
    return client.post("/api/v0/count", json=body, headers=headers)


def test_count_api_stores_hits_and_answers_202(client, db, api_token):
    response = api(client, api_token, {"no_sessions": True, "hits": [
        {"path": "/foo"}, {"path": "/bar", "created_at": "2020-01-18T14:42:00Z"}]})
    assert response.status_code == 202
    assert response.get_json() == {"status": "ok"}
    flush(db)
    rows = hits(db)
    assert [path_of(db, r) for r in rows] == ["/foo", "/bar"]
    assert rows[1].created_at == datetime(2020, 1, 18, 14, 42)
    assert all(r.first_visit for r in rows)
    assert db.session.get(Site, rows[0].site_id).first_hit_at <= datetime(2020, 1, 18, 14, 42)


def test_count_api_fields_are_stored_as_sent(client, db, api_token):
    api(client, api_token, {"no_sessions": True, "hits": [{
        "path": "/foo", "title": "A", "ref": "https://example.com/x/", "size": "42,666,2",
        "user_agent": "Mozilla/5.0 (Linux) Firefox/1", "location": "ET"}]})
    api(client, api_token, {"no_sessions": True, "hits": [{"path": "/foo", "event": True}]})
    flush(db)
    first, event = hits(db)
    ref = db.session.get(Ref, first.ref_id)
    assert (ref.ref, ref.ref_scheme) == ("https://example.com/x", "o")  # not normalised
    assert first.width == 42 and first.location == "ET"
    assert path_of(db, event) == "foo"


def test_count_api_sessions(client, db, api_token):
    ua = "Mozilla/5.0 (Linux) Firefox/1"
    api(client, api_token, {"hits": [{"path": "/foo", "user_agent": ua, "ip": ip}
                                     for ip in ("51.171.91.33", "66.66.66.67", "51.171.91.33")]})
    api(client, api_token, {"hits": [{"path": "/bar", "session": s} for s in "aba"]})
    flush(db)
    assert [r.first_visit for r in hits(db)] == [True, True, False, True, True, False]


def test_count_api_per_index_errors_keep_the_good_hits(client, db, api_token):
    response = api(client, api_token, {"hits": [{"path": "/foo", "session": "a"}, {"path": "/foo"},
                                                {"path": "", "session": "b"}]})
    assert response.status_code == 400
    assert response.get_json() == {"errors": {
        "1": "session or browser/IP not set; use no_sessions if you don't want to track unique visits",
        "2": "path: must be set, must be longer than 1 characters."}}
    flush(db)
    assert len(hits(db)) == 1


@pytest.mark.parametrize("body, status, expected", [
    ({}, 400, {"error": "no hits"}),
    ({"hits": []}, 400, {"error": "no hits"}),
    ({"hits": [{"path": "/x"}] * 501, "no_sessions": True}, 400,
     {"error": "maximum amount of pageviews in one batch is 500"}),
    ({"hits": [{"path": "/x", "colour": "red"}]}, 400, {"error": 'unknown parameter: "colour"'}),
    ({"nope": 1}, 400, {"error": 'unknown parameter: "nope"'}),
    ({"hits": [{"path": "/x"}], "filter": ["foo"]}, 200, {"error": "unknown value in Filter: [foo]"}),
])
def test_count_api_request_errors(client, db, api_token, body, status, expected):
    response = api(client, api_token, body)
    assert (response.status_code, response.get_json()) == (status, expected)
    flush(db)
    assert hits(db) == []


def test_count_api_future_and_bad_dates(client, api_token):
    response = api(client, api_token, {"no_sessions": True, "hits": [
        {"path": "/a", "created_at": "2999-01-01T00:00:00Z"}, {"path": "/b", "created_at": "nope"}]})
    assert response.status_code == 400
    errors = response.get_json()["errors"]
    assert errors["0"] == "created_at: in the future."
    assert errors["1"].startswith("created_at: must be a date")


def test_count_api_size_accepts_strings_numbers_and_arrays(client, db, api_token):
    api(client, api_token, {"no_sessions": True, "hits": [
        {"path": "/s", "size": "1920"}, {"path": "/n", "size": 1280}, {"path": "/a", "size": [800, 600]}]})
    flush(db)
    assert [r.width for r in hits(db)] == [1920, 1280, 800]


def test_count_api_ip_filter(client, db, site, api_token):
    accounts.set_ignored_ips(site, ["1.1.1.1"])
    response = api(client, api_token, {"no_sessions": True, "hits": [
        {"path": "/foo", "ip": "1.1.1.1"}, {"path": "/bar", "ip": "1.2.3.4"}]})
    assert response.status_code == 202
    assert response.headers["X-Goatcounter-Filter"] == "0"
    response = api(client, api_token, {"no_sessions": True, "filter": [],
                                       "hits": [{"path": "/baz", "ip": "1.1.1.1"}]})
    assert response.status_code == 202 and "X-Goatcounter-Filter" not in response.headers
    flush(db)
    assert [path_of(db, r) for r in hits(db)] == ["/bar", "/baz"]


def test_count_api_bots_are_accepted_but_not_counted(client, db, api_token):
    response = api(client, api_token, {"no_sessions": True, "hits": [
        {"path": "/foo"}, {"path": "/foo", "user_agent": "curl/7.8"}, {"path": "/x", "bot": 1}]})
    assert response.status_code == 202
    flush(db)
    assert len(hits(db)) == 1
    assert sorted(db.session.scalars(select(BotHit.bot))) == [1, 7]


def test_count_api_authentication(client, user, site):
    body = {"no_sessions": True, "hits": [{"path": "/x"}]}
    response = client.post("/api/v0/count", json=body)
    assert response.status_code == 401
    assert response.get_json() == {"error": "no Authorization header"}
    assert response.headers["WWW-Authenticate"] == "Basic realm=GoatCounter"
    assert client.post("/api/v0/count", json=body, headers={"Authorization": "Bearer nope"}
                       ).get_json() == {"error": "unknown token"}
    _, stats_only = accounts.create_token(user, "stats", accounts.permission_bits(["stats"]))
    response = client.post("/api/v0/count", json=body,
                           headers={"Authorization": "Bearer " + stats_only})
    assert (response.status_code, response.get_json()) == (403, {"error": "requires 'count' permissions"})
    _, counter = accounts.create_token(user, "count", accounts.permission_bits(["count"]))
    basic = "Basic " + base64.b64encode(b":" + counter.encode()).decode()
    assert client.post("/api/v0/count", json=body, headers={"Authorization": basic}).status_code == 202
    other = accounts.create_site("other.example")
    _, elsewhere = accounts.create_token(user, "other", sites=[other.id])
    response = client.post("/api/v0/count", json=body, headers={
        "Authorization": "Bearer " + elsewhere, "Host": "example.com"})
    assert (response.status_code, response.get_json()) == (
        403, {"error": "this token does not have access to this site"})


def test_count_api_content_types(client, api_token):
    headers = {"Authorization": "Bearer " + api_token.secret}
    response = client.post("/api/v0/count", data="hits", headers=headers, content_type="text/plain")
    assert response.status_code == 415
    response = client.post("/api/v0/count", data="{not json", headers=headers,
                           content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"].startswith("invalid JSON:")


def test_count_api_wrong_method_and_unknown_route_are_json(client):
    response = client.get("/api/v0/count")
    assert (response.status_code, response.get_json()) == (405, {"error": "method not allowed"})
    response = client.get("/api/v0/nothing-here")
    assert (response.status_code, response.get_json()) == (404, {"error": "not found"})
