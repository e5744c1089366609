"""Umami statistics (spec §7) over hits stored through the Umami payload mapping and the real
persister: the two-pageviews-and-an-event scenario across every endpoint, ranges that mix
aggregated whole hours with raw partial hours, time zones, DST and the url filter."""
from datetime import datetime, timezone

import pytest

from app.ingest.hit_in import HitIn
from tests.api.umami.conftest import UA_FIREFOX_LINUX

TYPES = ("url", "referrer", "event", "browser", "os", "device", "country")


def ms(*args):
    return int(datetime(*args, tzinfo=timezone.utc).timestamp() * 1000)


def at(*args):
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def get(client, site, endpoint, start, end, **params):
    query = "&".join([f"start_at={start}", f"end_at={end}"] + [f"{k}={v}" for k, v in
                                                                 params.items()])
    response = client.get(f"/api/website/{site.id}/{endpoint}?{query}")
    assert response.status_code == 200, response.data
    return response.json


@pytest.fixture
def scenario(collect, owned_site):
    """One visitor: two pageviews two seconds apart, then an event (16:15 UTC = 01:15 the
    next day in Tokyo)."""
    collect(owned_site, url="/docs?x=1", referrer="https://google.com/", at=at(2021, 4, 20, 16, 15))
    collect(owned_site, url="/pricing", referrer="/docs?x=1", at=at(2021, 4, 20, 16, 15, 2))
    collect(owned_site, "event", url="/pricing", event_type="click",
            event_value="signup-button", at=at(2021, 4, 20, 16, 15, 3))
    return owned_site


DAY = (ms(2021, 4, 20), ms(2021, 4, 20, 23, 59, 59) + 999)


def test_scenario_stats(client, token, scenario):
    assert get(client, scenario, "stats", *DAY) == {
        "pageviews": 2, "uniques": 1, "bounces": 0, "totaltime": 2}
    # a range cut inside the hour reads raw hits: only the second pageview
    assert get(client, scenario, "stats", ms(2021, 4, 20, 16, 15, 1), DAY[1]) == {
        "pageviews": 1, "uniques": 1, "bounces": 1, "totaltime": 0}
    # both ends are inclusive
    assert get(client, scenario, "stats", ms(2021, 4, 20, 16, 15), ms(2021, 4, 20, 16, 15, 2))[
        "pageviews"] == 2


def test_scenario_pageviews_and_events_in_utc_and_tokyo(client, token, scenario):
    assert get(client, scenario, "pageviews", *DAY, unit="hour", tz="UTC") == {
        "pageviews": [{"t": "2021-04-20 16:00:00", "y": 2}],
        "sessions": [{"t": "2021-04-20 16:00:00", "y": 1}]}
    assert get(client, scenario, "pageviews", *DAY, unit="day", tz="asia/tokyo") == {
        "pageviews": [{"t": "2021-04-21", "y": 2}], "sessions": [{"t": "2021-04-21", "y": 1}]}
    assert get(client, scenario, "pageviews", *DAY, unit="month", tz="Asia/Tokyo")[
        "pageviews"] == [{"t": "2021-04-01", "y": 2}]
    assert get(client, scenario, "pageviews", *DAY, unit="year", tz="America/Los_Angeles")[
        "pageviews"] == [{"t": "2021-01-01", "y": 2}]
    assert get(client, scenario, "events", *DAY, unit="day", tz="UTC") == [
        {"x": "signup-button", "t": "2021-04-20", "y": 1}]
    assert get(client, scenario, "events", *DAY, unit="hour", tz="Asia/Tokyo") == [
        {"x": "signup-button", "t": "2021-04-21 01:00:00", "y": 1}]


def test_scenario_every_metric(client, token, scenario):
    expected = {
        "url": [{"x": "/docs?x=1", "y": 1}, {"x": "/pricing", "y": 1}],
        "referrer": [{"x": "/docs?x=1", "y": 1}, {"x": "https://google.com/", "y": 1}],
        "event": [{"x": "click\tsignup-button", "y": 1}],
        "browser": [{"x": "chrome", "y": 1}],
        "os": [{"x": "Windows 10", "y": 1}],
        "device": [{"x": "desktop", "y": 1}],
        "country": [{"x": None, "y": 1}],
    }
    for kind in TYPES:
        got = get(client, scenario, "metrics", *DAY, type=kind)
        assert sorted(got, key=lambda row: str(row["x"])) == expected[kind], kind


def test_scenario_url_filter(client, token, scenario):
    assert get(client, scenario, "stats", *DAY, url="/pricing") == {
        "pageviews": 1, "uniques": 1, "bounces": 1, "totaltime": 0}
    # decoded once more than the query string: %252F is "/"
    assert get(client, scenario, "stats", *DAY, url="%252Fdocs%253Fx%253D1")["pageviews"] == 1
    assert get(client, scenario, "metrics", *DAY, type="referrer", url="/pricing") == [
        {"x": "/docs?x=1", "y": 1}]
    assert len(get(client, scenario, "metrics", *DAY, type="url", url="/pricing")) == 2
    assert get(client, scenario, "metrics", *DAY, type="browser", url="/nowhere") == []
    assert get(client, scenario, "events", *DAY, unit="day", tz="UTC", url="/pricing") == [
        {"x": "signup-button", "t": "2021-04-20", "y": 1}]
    assert get(client, scenario, "events", *DAY, unit="day", tz="UTC", url="/docs") == []
    assert get(client, scenario, "pageviews", *DAY, unit="day", tz="UTC", url="/pricing")[
        "pageviews"] == [{"t": "2021-04-20", "y": 1}]


def test_empty_range_is_zeros(client, token, scenario):
    assert get(client, scenario, "stats", ms(2020, 1, 1), ms(2020, 1, 2)) == {
        "pageviews": 0, "uniques": 0, "bounces": 0, "totaltime": 0}
    assert get(client, scenario, "pageviews", ms(2020, 1, 1), ms(2020, 1, 2), unit="day",
               tz="UTC") == {"pageviews": [], "sessions": []}
    assert get(client, scenario, "metrics", ms(2020, 1, 1), ms(2020, 1, 2), type="os") == []


@pytest.fixture
def two_visitors(collect, owned_site):
    """A: 10:30, 11:10, 11:20, 12:40 (Chrome); B: 11:50 (Firefox) on 2021-04-20 UTC."""
    for minute in ((10, 30), (11, 10), (11, 20), (12, 40)):
        collect(owned_site, url="/a", at=at(2021, 4, 20, *minute))
    collect(owned_site, url="/b", ua=UA_FIREFOX_LINUX, screen="1366x768",
            at=at(2021, 4, 20, 11, 50))
    return owned_site


def test_whole_hours_from_visits_and_partial_hours_from_hits_agree(client, token, two_visitors):
    site = two_visitors
    whole = (ms(2021, 4, 20, 10), ms(2021, 4, 20, 12, 59, 59) + 999)
    assert get(client, site, "stats", *whole) == {
        "pageviews": 5, "uniques": 2, "bounces": 3, "totaltime": 600}
    cut = (ms(2021, 4, 20, 10, 45), ms(2021, 4, 20, 12, 44, 59) + 999)
    assert get(client, site, "stats", *cut) == {
        "pageviews": 4, "uniques": 2, "bounces": 2, "totaltime": 600}
    assert get(client, site, "pageviews", *cut, unit="hour", tz="UTC") == {
        "pageviews": [{"t": "2021-04-20 11:00:00", "y": 3}, {"t": "2021-04-20 12:00:00", "y": 1}],
        "sessions": [{"t": "2021-04-20 11:00:00", "y": 2}, {"t": "2021-04-20 12:00:00", "y": 1}]}
    # A is seen in a whole hour and in a raw partial hour of the same day: counted once
    assert get(client, site, "pageviews", *cut, unit="day", tz="UTC") == {
        "pageviews": [{"t": "2021-04-20", "y": 4}], "sessions": [{"t": "2021-04-20", "y": 2}]}
    browsers = get(client, site, "metrics", *cut, type="browser")
    assert sorted((r["x"], r["y"]) for r in browsers) == [("chrome", 1), ("firefox", 1)]
    devices = get(client, site, "metrics", *cut, type="device")
    assert sorted((r["x"], r["y"]) for r in devices) == [("desktop", 1), ("laptop", 1)]
    assert get(client, site, "metrics", *cut, type="os") == [
        {"x": "Linux", "y": 1}, {"x": "Windows 10", "y": 1}] or sorted(
        r["x"] for r in get(client, site, "metrics", *cut, type="os")) == ["Linux", "Windows 10"]
    assert get(client, site, "metrics", *cut, type="url") == [{"x": "/a", "y": 3},
                                                               {"x": "/b", "y": 1}]
    # only A's 12:40 pageview lies in the partial last hour
    assert get(client, site, "metrics", ms(2021, 4, 20, 12, 30), cut[1], type="browser") == [
        {"x": "chrome", "y": 1}]


def test_a_visit_is_one_utc_clock_hour(client, token, collect, owned_site):
    collect(owned_site, url="/a", at=at(2021, 4, 20, 10, 59, 59))
    collect(owned_site, url="/b", at=at(2021, 4, 20, 11, 0, 1))
    assert get(client, owned_site, "stats", *DAY) == {
        "pageviews": 2, "uniques": 1, "bounces": 2, "totaltime": 0}


def test_hits_without_a_session_are_visits_of_their_own(client, token, store_hits, owned_site):
    for second in (0, 1):
        store_hits(HitIn(site_id=owned_site.id, path="/x", family="gc-api", no_session=True,
                         created_at=at(2021, 4, 20, 9, 0, second)))
    assert get(client, owned_site, "stats", *DAY) == {
        "pageviews": 2, "uniques": 2, "bounces": 2, "totaltime": 0}
    assert get(client, owned_site, "stats", ms(2021, 4, 20, 9, 0, 1), DAY[1]) == {
        "pageviews": 1, "uniques": 1, "bounces": 1, "totaltime": 0}
    assert get(client, owned_site, "pageviews", *DAY, unit="day", tz="UTC") == {
        "pageviews": [{"t": "2021-04-20", "y": 2}], "sessions": [{"t": "2021-04-20", "y": 2}]}


def test_spring_dst_boundary(client, token, collect, owned_site):
    # Europe/Berlin: 2021-03-28 01:00 UTC, 02:00 CET becomes 03:00 CEST
    collect(owned_site, url="/a", at=at(2021, 3, 27, 23, 30))  # 00:30 CET on the 28th
    collect(owned_site, url="/a", at=at(2021, 3, 28, 0, 30))   # 01:30 CET
    collect(owned_site, url="/a", at=at(2021, 3, 28, 1, 30))   # 03:30 CEST
    collect(owned_site, url="/a", at=at(2021, 3, 28, 22, 30))  # 00:30 CEST on the 29th
    start, end = ms(2021, 3, 27), ms(2021, 3, 29, 23, 59, 59)
    hours = get(client, owned_site, "pageviews", start, end, unit="hour", tz="Europe/Berlin")
    assert [p["t"] for p in hours["pageviews"]] == [
        "2021-03-28 00:00:00", "2021-03-28 01:00:00", "2021-03-28 03:00:00",
        "2021-03-29 00:00:00"]
    days = get(client, owned_site, "pageviews", start, end, unit="day", tz="Europe/Berlin")
    assert days == {"pageviews": [{"t": "2021-03-28", "y": 3}, {"t": "2021-03-29", "y": 1}],
                    "sessions": [{"t": "2021-03-28", "y": 1}, {"t": "2021-03-29", "y": 1}]}


def test_autumn_dst_boundary_merges_the_repeated_hour(client, token, collect, owned_site):
    # Europe/Berlin: 2021-10-31 01:00 UTC, 03:00 CEST becomes 02:00 CET; 02:xx happens twice
    collect(owned_site, url="/a", at=at(2021, 10, 31, 0, 30))  # 02:30 CEST
    collect(owned_site, url="/a", at=at(2021, 10, 31, 1, 30))  # 02:30 CET
    collect(owned_site, url="/a", at=at(2021, 10, 31, 22, 30))  # 23:30 CET
    start, end = ms(2021, 10, 30), ms(2021, 11, 1)
    hours = get(client, owned_site, "pageviews", start, end, unit="hour", tz="Europe/Berlin")
    assert hours["pageviews"] == [{"t": "2021-10-31 02:00:00", "y": 2},
                                  {"t": "2021-10-31 23:00:00", "y": 1}]
    assert hours["sessions"][0] == {"t": "2021-10-31 02:00:00", "y": 1}
    days = get(client, owned_site, "pageviews", start, end, unit="day", tz="Europe/Berlin")
    assert days["pageviews"] == [{"t": "2021-10-31", "y": 3}]
    events_free = get(client, owned_site, "events", start, end, unit="day", tz="Europe/Berlin")
    assert events_free == []


def test_half_hour_zone_buckets(client, token, collect, owned_site):
    # Asia/Kolkata is UTC+05:30: 18:20 UTC is 23:50 local, 18:40 UTC is 00:10 the next day
    collect(owned_site, url="/a", at=at(2021, 4, 20, 18, 20))
    collect(owned_site, url="/a", at=at(2021, 4, 20, 18, 40))
    days = get(client, owned_site, "pageviews", *DAY, unit="day", tz="Asia/Kolkata")
    assert days["pageviews"] == [{"t": "2021-04-20", "y": 1}, {"t": "2021-04-21", "y": 1}]
    hours = get(client, owned_site, "pageviews", *DAY, unit="hour", tz="Asia/Kolkata")
    assert [p["t"] for p in hours["pageviews"]] == ["2021-04-20 23:00:00", "2021-04-21 00:00:00"]


def test_active_counts_sessions_of_the_last_five_minutes(client, token, collect, owned_site):
    import time
    collect(owned_site, url="/a", at=time.time() - 30)
    collect(owned_site, url="/b", at=time.time() - 20)
    collect(owned_site, url="/a", ua=UA_FIREFOX_LINUX, at=time.time() - 10)
    collect(owned_site, url="/old", ua="Mozilla/5.0 old", at=time.time() - 600)
    response = client.get(f"/api/website/{owned_site.id}/active")
    assert response.status_code == 200 and response.json == [{"x": 2}]


@pytest.mark.parametrize("query, status", [
    ("", 400), ("start_at=1", 400), ("start_at=abc&end_at=1", 400),
    ("start_at=1&end_at=-5", 400), ("start_at=1&end_at=99999999999999999999", 400),
    ("start_at=1&end_at=2&url=%25", 400), ("start_at=1&end_at=2&url=%25E2%2528", 400),
])
def test_bad_range_arguments_are_400(client, token, owned_site, query, status):
    for endpoint in ("stats", "metrics"):
        response = client.get(f"/api/website/{owned_site.id}/{endpoint}?{query}&type=url")
        assert (response.status_code, response.data) == (status, b"400 Bad Request")


@pytest.mark.parametrize("params", ["", "unit=day", "tz=UTC", "unit=week&tz=UTC",
                                    "unit=Day&tz=UTC", "unit=day&tz=Mars/Base"])
def test_bad_unit_or_tz_is_400(client, token, owned_site, params):
    for endpoint in ("pageviews", "events"):
        response = client.get(f"/api/website/{owned_site.id}/{endpoint}?start_at=1&end_at=2&"
                              f"{params}")
        assert (response.status_code, response.data) == (400, b"400 Bad Request")


@pytest.mark.parametrize("kind", ["", "language", "screen", "URL"])
def test_unknown_metrics_type_is_405(client, token, owned_site, kind):
    response = client.get(f"/api/website/{owned_site.id}/metrics?start_at=1&end_at=2&type={kind}")
    assert (response.status_code, response.data) == (405, b"405 Method Not Allowed")


def test_statistics_need_access(client, owned_site):
    for endpoint in ("stats", "pageviews", "events", "metrics", "active"):
        response = client.get(f"/api/website/{owned_site.id}/{endpoint}?start_at=1&end_at=2")
        assert (response.status_code, response.data) == (401, b"401 Unauthorized")
