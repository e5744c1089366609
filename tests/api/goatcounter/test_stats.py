"""GoatCounter statistics endpoints over HTTP: the worked examples of spec §16 as golden JSON
(dates fixed by freezing the clock), the path list, referrers, every breakdown page and its
drill-down, parameters, permissions and error texts, and a non-UTC token user."""
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from app import accounts, clock
from app.extensions import db
from app.ingest.hit_in import HitIn
from app.models import PERMISSIONS

GOLDEN = Path(__file__).parent / "golden"
NOW = datetime(2020, 6, 18, 12, 13, 14)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:{0}.0) Gecko/20100101 Firefox/{0}.0"
CHROME_WIN = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/106.0.0.0 Safari/537.36")


def golden(name):
    return json.loads((GOLDEN / name).read_text())


@pytest.fixture
def now():
    clock.freeze(NOW)
    yield NOW
    clock.freeze(None)


def unix(moment):
    return moment.replace(tzinfo=timezone.utc).timestamp()


def pageview(site, path, when=NOW, **fields):
    fields.setdefault("family", "gc-api")
    fields.setdefault("no_session", True)
    return HitIn(site_id=site.id, path=path, created_at=unix(when), **fields)


def store_in_order(store_hits, hits):
    """One batch per hit, so paths get ids in this order (within one batch the persister
    creates new paths in key order, which keeps concurrent workers free of deadlocks)."""
    for hit in hits:
        store_hits(hit)


@pytest.fixture
def fifty(site, store_hits, now):
    """Spec §16.1: 50 first-visit pageviews /1 … /50 (ids 1 … 50) at now."""
    store_in_order(store_hits, [pageview(site, f"/{n}", title=f"title - {n}")
                                for n in range(1, 51)])


def get(client, token, url, **headers):
    return client.get(url, headers={"Authorization": f"Bearer {token.secret}", **headers})


def test_hits_works(client, api_token, fifty):
    response = get(client, api_token, "/api/v0/stats/hits?limit=3")
    assert response.status_code == 200, response.data
    assert response.get_json() == golden("api-hits-works.json")


@pytest.mark.parametrize("query, expected", [
    ("limit=1&exclude_paths=50,49&daily=true&start=2020-06-17&end=2020-06-19",
     "api-hits-exclude.json"),
    ("limit=1&exclude_paths=&include_paths=10&daily=true&start=2020-06-17&end=2020-06-19",
     "api-hits-include.json"),
    ("path_by_name=true&limit=1&exclude_paths=&include_paths=/10&daily=true"
     "&start=2020-06-17&end=2020-06-19", "api-hits-include.json"),
])
def test_hits_exclude_and_include(client, api_token, fifty, query, expected):
    response = get(client, api_token, f"/api/v0/stats/hits?{query}")
    assert response.status_code == 200, response.data
    assert response.get_json() == golden(expected)


def test_no_data_answers_empty_lists(client, api_token, now):
    assert get(client, api_token, "/api/v0/stats/hits").get_json() == {
        "hits": [], "more": False, "total": 0}
    assert get(client, api_token, "/api/v0/stats/browsers").get_json() == {
        "more": False, "stats": []}
    assert get(client, api_token, "/api/v0/stats/browsers/Firefox").get_json() == {
        "more": False, "stats": []}
    assert get(client, api_token, "/api/v0/paths").get_json() == {"more": False, "paths": []}
    total = get(client, api_token, "/api/v0/stats/total").get_json()
    assert (total["total"], total["total_events"], total["total_utc"]) == (0, 0, 0)
    assert [d["day"] for d in total["stats"]] == [f"2020-06-{n}" for n in range(11, 19)]


def test_browsers_and_versions(client, api_token, site, store_hits, now):
    store_in_order(store_hits, [pageview(site, f"/{i + 1}", user_agent=FIREFOX.format(i)
                                         if i < 20 or i % 2 == 0 else CHROME_WIN)
                                for i in range(50)])
    assert get(client, api_token, "/api/v0/stats/browsers").get_json() == \
        golden("api-browsers.json")
    assert get(client, api_token, "/api/v0/stats/browsers/Firefox?limit=3").get_json() == \
        golden("api-browsers-firefox.json")
    assert get(client, api_token, "/api/v0/stats/browsers/firefox?limit=3").get_json() == \
        golden("api-browsers-firefox.json")


def test_paths_pagination(client, api_token, site, store_hits, now):
    store_hits(*[pageview(site, f"/{n:02}", title=f"{n} - {n}") for n in range(1, 51)])
    assert get(client, api_token, "/api/v0/paths").get_json() == golden("api-paths.json")
    page = get(client, api_token, "/api/v0/paths?after=19&limit=5").get_json()
    assert [p["id"] for p in page["paths"]] == [20, 21, 22, 23, 24] and page["more"] is True
    page = get(client, api_token, "/api/v0/paths?After=45&Limit=5").get_json()
    assert [p["id"] for p in page["paths"]] == [46, 47, 48, 49, 50] and page["more"] is False
    assert get(client, api_token, "/api/v0/paths?after=50&limit=5").get_json() == {
        "more": False, "paths": []}
    assert len(get(client, api_token, "/api/v0/paths?limit=500").get_json()["paths"]) == 50


def test_single_path(client, api_token, site, store_hits, now):
    store_hits(pageview(site, "/a", title="Hello"))
    assert get(client, api_token, "/api/v0/paths").get_json() == {
        "more": False, "paths": [{"event": False, "id": 1, "path": "/a", "title": "Hello"}]}


def test_total_counts_events_separately(client, api_token, site, store_hits, now):
    store_hits(pageview(site, "/a"), pageview(site, "/b"),
               pageview(site, "signup", kind="event"))
    body = get(client, api_token, "/api/v0/stats/total").get_json()
    assert (body["total"], body["total_events"], body["total_utc"]) == (3, 1, 3)
    assert body["stats"][-1]["hourly"][12] == 3 and body["stats"][-1]["weekly"] == 3
    only = get(client, api_token, "/api/v0/stats/total?include_paths=/a&path_by_name=1")
    assert only.get_json()["total"] == 1


def test_path_referrers(client, api_token, site, store_hits, now):
    store_hits(pageview(site, "/a", referrer="https://one.example/x", family="gc",
                        user_agent=FIREFOX.format(80)),
               pageview(site, "/a", referrer="https://two.example/", family="gc",
                        user_agent=FIREFOX.format(80)),
               pageview(site, "/a", referrer="https://two.example/", family="gc",
                        user_agent=FIREFOX.format(81)),
               pageview(site, "/a", family="gc", user_agent=FIREFOX.format(80)))
    body = get(client, api_token, "/api/v0/stats/hits/1").get_json()
    assert body["more"] is False
    assert body["refs"][0] == {"name": "two.example", "count": 2, "ref_scheme": "h"}
    # Ties are ordered by referrer id; direct traffic is the "" row with scheme "o".
    tied = body["refs"][1:]
    assert sorted(tied, key=lambda r: r["name"]) == [
        {"name": "", "count": 1, "ref_scheme": "o"},
        {"name": "one.example/x", "count": 1, "ref_scheme": "h"}]
    page = get(client, api_token, "/api/v0/stats/hits/1?limit=1&offset=1").get_json()
    assert page == {"more": True, "refs": [tied[0]]}
    assert get(client, api_token, "/api/v0/stats/hits/999").get_json() == {
        "more": False, "refs": []}


def test_every_page_and_drill_down(client, api_token, site, store_hits, now):
    store_hits(pageview(site, "/a", user_agent=FIREFOX.format(80), family="gc", width=390,
                        location="NL", language="nl", query="utm_campaign=c1&utm_source=s1",
                        referrer="https://news.example/"),
               pageview(site, "/b", user_agent=CHROME_WIN, family="gc", width=2560,
                        location="US-TX", referrer="https://news.example/"))
    site.settings = {**site.settings, "collect": site.settings["collect"] | 64}
    db.session.commit()
    expected = {
        "browsers": [{"id": "Chrome", "name": "Chrome", "count": 1},
                     {"id": "Firefox", "name": "Firefox", "count": 1}],
        "systems": [{"id": "Linux", "name": "Linux", "count": 1},
                    {"id": "Windows", "name": "Windows", "count": 1}],
        "sizes": [{"id": "phone", "name": "", "count": 1}, {"id": "tablet", "name": "", "count": 0},
                  {"id": "desktop", "name": "", "count": 0},
                  {"id": "desktophd", "name": "", "count": 1},
                  {"id": "unknown", "name": "", "count": 0}],
        "languages": [{"id": "(unknown)", "name": "(unknown)", "count": 2}],
        "toprefs": [{"id": "news.example", "name": "news.example", "count": 1, "ref_scheme": "h"},
                    {"id": "s1", "name": "s1", "count": 1, "ref_scheme": "c"}],
    }
    def canonical(rows):
        return sorted(json.dumps(row, sort_keys=True) for row in rows)

    for page, rows in expected.items():
        body = get(client, api_token, f"/api/v0/stats/{page}").get_json()
        if page == "sizes":  # a fixed order
            assert body["stats"] == rows
        assert canonical(body["stats"]) == canonical(rows), page
        assert body["more"] is False
    locations = get(client, api_token, "/api/v0/stats/locations").get_json()["stats"]
    assert {(r["id"], r["count"]) for r in locations} == {("NL", 1), ("US", 1)}
    campaigns = get(client, api_token, "/api/v0/stats/campaigns").get_json()["stats"]
    assert [(r["name"], r["count"]) for r in campaigns] == [("c1", 1)]
    drills = {
        "browsers/Chrome": [{"name": "Chrome 106", "count": 1}],
        "systems/linux": [{"name": "Linux", "count": 1}],
        "sizes/desktophd": [{"name": "↔\ufe0e 2560px", "count": 1}],
        f"campaigns/{campaigns[0]['id']}": [{"name": "s1", "count": 1}],
        "toprefs/NEWS.example": [{"name": "/b", "count": 1}],
        "locations/US": [{"name": "", "count": 1}],
    }
    for url, rows in drills.items():
        body = get(client, api_token, f"/api/v0/stats/{url}").get_json()
        assert body == {"more": False, "stats": rows}, url


def test_day_stats_use_the_days_of_the_range(client, api_token, site, store_hits, now):
    store_hits(pageview(site, "/a", when=datetime(2020, 6, 1, 10), user_agent=CHROME_WIN,
                        family="gc"))
    week = get(client, api_token, "/api/v0/stats/browsers").get_json()
    assert week["stats"] == []
    june = get(client, api_token, "/api/v0/stats/browsers?start=2020-06-01&end=2020-06-18")
    assert june.get_json()["stats"] == [{"id": "Chrome", "name": "Chrome", "count": 1}]


def test_non_utc_user_sees_local_days(client, api_token, user, site, store_hits, now):
    user.settings = {**user.settings, "timezone": "NL.Europe/Amsterdam"}
    db.session.commit()
    store_hits(pageview(site, "/a", when=datetime(2020, 6, 17, 23, 30)))
    body = get(client, api_token, "/api/v0/stats/total?start=2020-06-17T22:00:00Z"
                                  "&end=2020-06-18T21:59:59Z").get_json()
    assert [d["day"] for d in body["stats"]] == ["2020-06-18"]
    assert body["stats"][0]["hourly"][1] == 1 and body["total"] == 1
    hits = get(client, api_token, "/api/v0/stats/hits?start=2020-06-17T22:00:00Z"
                                  "&end=2020-06-18T21:59:59Z").get_json()
    assert hits["hits"][0]["stats"][0]["day"] == "2020-06-18"


def test_group_decides_max(client, api_token, site, store_hits, now):
    store_hits(pageview(site, "/a", when=datetime(2020, 6, 12, 3)),
               pageview(site, "/a", when=datetime(2020, 6, 13, 3)))
    for group, expected in (("hour", 1), ("day", 1), ("week", 2), ("month", 2), ("2", 2),
                            ("0", 1)):
        body = get(client, api_token, f"/api/v0/stats/hits?group={group}").get_json()
        assert body["hits"][0]["max"] == expected, group


@pytest.mark.parametrize("url, status, body", [
    ("/api/v0/stats/hits?filter=x", 400, {"error": 'unknown parameter: "filter"'}),
    ("/api/v0/stats/hits?include_paths=a,b", 400, None),
    ("/api/v0/stats/hits?start=yesterday", 400, None),
    ("/api/v0/stats/hits?group=year", 400, None),
    ("/api/v0/stats/hits?start=2020-06-18&end=2020-06-01", 400,
     {"errors": {"end": ["must be after start"]}}),
    ("/api/v0/stats/total?start=1900-01-01", 400,
     {"error": "the range is too long: at most 3660 days"}),
    ("/api/v0/stats/hits/abc", 400, {"errors": {"path_id": ["must be a whole number"]}}),
    ("/api/v0/stats/hits/99999999999", 400, {"errors": {"path_id": ["must be a whole number"]}}),
    ("/api/v0/stats/sizes/watch", 400, None),
    ("/api/v0/stats/campaigns/abc", 400, {"errors": {"id": ["must be a whole number"]}}),
    ("/api/v0/stats/languages/eng", 400, None),
    ("/api/v0/paths?after=x", 400, None),
    ("/api/v0/stats/browsers?offset=-1", 400, None),
])
def test_bad_parameters_get_400s(client, api_token, now, url, status, body):
    response = get(client, api_token, url)
    assert response.status_code == status, response.data
    data = response.get_json()
    if body is not None:
        assert data == body
    else:
        assert "error" in data or "errors" in data
    if url.endswith("include_paths=a,b"):
        assert data["error"].startswith("invalid number in include_paths:")


def test_invalid_page_is_checked_before_authentication(client):
    response = client.get("/api/v0/stats/nope")
    assert response.status_code == 400
    assert response.get_json() == {"errors": {"page": [
        "must be one of ‘browsers, systems, locations, languages, sizes, campaigns, toprefs’"]}}
    assert client.get("/api/v0/stats/nope/x").status_code == 400
    assert client.get("/api/v0/stats/browsers").status_code == 401


STATS_URLS = ["/api/v0/paths", "/api/v0/stats/total", "/api/v0/stats/hits",
              "/api/v0/stats/hits/1", "/api/v0/stats/browsers", "/api/v0/stats/browsers/Firefox"]


@pytest.mark.parametrize("url", STATS_URLS)
def test_stats_permission_and_authentication(client, user, site, url):
    response = client.get(url)
    assert response.status_code == 401
    assert response.get_json() == {"error": "no Authorization header"}
    assert response.headers["WWW-Authenticate"] == "Basic realm=GoatCounter"
    unknown = client.get(url, headers={"Authorization": "Bearer nope-nope-nope"})
    assert (unknown.status_code, unknown.get_json()) == (401, {"error": "unknown token"})
    token, secret = accounts.create_token(user, "counting", permissions=PERMISSIONS["count"])
    denied = client.get(url, headers={"Authorization": f"Bearer {secret}"})
    assert (denied.status_code, denied.get_json()) == (403, {"error": "requires 'stats' permissions"})
    other = accounts.create_site("other.example")
    token, secret = accounts.create_token(user, "other site", sites=[other.id])
    foreign = client.get(url, headers={"Authorization": f"Bearer {secret}",
                                       "Host": "example.com"})
    assert foreign.status_code == 403
    assert foreign.get_json() == {"error": "this token does not have access to this site"}


def test_basic_auth_with_the_token_as_password(client, api_token, fifty):
    import base64
    credentials = base64.b64encode(f":{api_token.secret}".encode()).decode()
    response = client.get("/api/v0/stats/hits?limit=1",
                          headers={"Authorization": f"Basic {credentials}"})
    assert response.status_code == 200 and response.get_json()["hits"][0]["path"] == "/50"
