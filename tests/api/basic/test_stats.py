"""GET /api/stats: the window rules, aggregate and verbose rows, the site filter, IPs as each
site's IP mode stored them, and validation. Hits are seeded through the real pipeline."""
import re
from datetime import datetime, timedelta, timezone

import pytest

from app import accounts
from app.clock import freeze
from tests.api.basic.conftest import CHROME, FIREFOX_MAC

NOW = datetime(2024, 3, 10, 12, 0, 0)


@pytest.fixture(autouse=True)
def frozen():
    freeze(NOW)
    yield
    freeze(None)


def ts(moment):
    return moment.replace(tzinfo=timezone.utc).timestamp()


def hit(site, path, at=NOW - timedelta(hours=1), ip="192.0.2.10", ua=CHROME, **extra):
    return {"site_id": site.id, "path": path, "url": path, "family": "basic",
            "created_at": ts(at), "ip": ip, "user_agent": ua, **extra}


def get(client, auth, query=""):
    response = client.get(f"/api/stats{query}", headers=auth)
    body = response.get_data()  # a streamed response is read to its end here
    return response.status_code, response.json if body else None


@pytest.fixture
def other(app):
    return accounts.create_site("other.example")


def test_aggregate_groups_by_site_ip_and_path_most_counted_first(client, auth, site, other,
                                                                   store_hits):
    store_hits(*[hit(site, "/a", ip="192.0.2.10")] * 3, *[hit(site, "/a", ip="192.0.2.99")],
               *[hit(site, "/b", ip="198.51.100.1")] * 2, *[hit(other, "/a")] * 4,
               hit(site, "signup", kind="event"))  # events are not pageviews
    status, rows = get(client, auth)
    assert status == 200
    # 192.0.2.10 and 192.0.2.99 share a /24: anonymised (the default IP mode), they are one.
    assert rows == [
        {"site": "example.com", "ip": "192.0.2.0", "path": "/a", "count": 4},
        {"site": "other.example", "ip": "192.0.2.0", "path": "/a", "count": 4},
        {"site": "example.com", "ip": "198.51.100.0", "path": "/b", "count": 2},
    ]  # equal counts: in site order


def test_ip_as_the_site_ip_mode_stored_it(client, auth, site, store_hits):
    full = accounts.create_site("full.example")
    accounts.update_site(full, settings={"ip_mode": "full"})
    none = accounts.create_site("none.example")
    accounts.update_site(none, settings={"ip_mode": "none"})
    store_hits(hit(site, "/", ip="2001:db8:aaaa:bbbb::1"), hit(full, "/", ip="192.0.2.10"),
               hit(none, "/", ip="192.0.2.10"))
    status, rows = get(client, auth)
    assert status == 200
    assert {row["site"]: row["ip"] for row in rows} == {
        "example.com": "2001:db8:aaaa::", "full.example": "192.0.2.10", "none.example": ""}
    status, rows = get(client, auth, "?verbose=true")
    assert {row["site"]: row["ip"] for row in rows} == {
        "example.com": "2001:db8:aaaa::", "full.example": "192.0.2.10", "none.example": ""}


def test_verbose_rows_newest_first_with_every_field(client, auth, site, store_hits):
    store_hits(hit(site, "/old", at=NOW - timedelta(hours=5), ua=FIREFOX_MAC, referrer="",
                   screen="1440x900"),
               hit(site, "/new?x=1", at=NOW - timedelta(minutes=3),
                   referrer="https://google.com/search?q=ibex", screen="1920x1080"),
               hit(site, "/mid", at=NOW - timedelta(hours=2), ua=""))  # no UA: a bot, dropped
    status, rows = get(client, auth, "?verbose=true")
    assert status == 200
    assert rows == [
        {"site": "example.com", "ip": "192.0.2.0", "country": "", "region": "", "city": "",
         "browser": "Chrome 120", "os": "Windows 10", "path": "/new?x=1",
         "referrer": "https://google.com/search?q=ibex", "time": "2024-03-10T11:57:00Z"},
        {"site": "example.com", "ip": "192.0.2.0", "country": "", "region": "", "city": "",
         "browser": "Firefox 121", "os": "macOS 10.15", "path": "/old", "referrer": "",
         "time": "2024-03-10T07:00:00Z"},
    ]


def test_verbose_row_without_user_agent_data_has_empty_strings(client, auth, site, store_hits):
    accounts.update_site(site, settings={"collect": 2})  # referrer only: no browser, no OS
    store_hits(hit(site, "/x"))
    status, rows = get(client, auth, "?verbose=1")
    assert status == 200 and len(rows) == 1
    assert (rows[0]["browser"], rows[0]["os"], rows[0]["country"]) == ("", "", "")
    assert all(isinstance(value, str) for value in rows[0].values())


def test_default_window_is_the_last_24_hours(client, auth, site, store_hits):
    store_hits(hit(site, "/in", at=NOW - timedelta(hours=23, minutes=59)),
               hit(site, "/out", at=NOW - timedelta(hours=24, seconds=1)))
    assert [row["path"] for row in get(client, auth)[1]] == ["/in"]
    assert [row["path"] for row in get(client, auth, "?last=24h")[1]] == ["/in"]


@pytest.mark.parametrize("last, paths", [
    ("1h", ["/30m"]), ("3h", ["/30m", "/2h"]), ("7d", ["/30m", "/2h", "/6d"]),
    ("30d", ["/30m", "/2h", "/6d", "/29d"]), ("720h", ["/30m", "/2h", "/6d", "/29d"]),
    ("400d", ["/30m", "/2h", "/6d", "/29d", "/1y"])])
def test_last_windows(client, auth, site, store_hits, last, paths):
    store_hits(*(hit(site, path, at=NOW - delta) for path, delta in (
        ("/30m", timedelta(minutes=30)), ("/2h", timedelta(hours=2)), ("/6d", timedelta(days=6)),
        ("/29d", timedelta(days=29)), ("/1y", timedelta(days=365)))))
    status, rows = get(client, auth, f"?last={last}&verbose=true")
    assert status == 200 and [row["path"] for row in rows] == paths


def test_from_and_to_are_whole_inclusive_utc_days(client, auth, site, store_hits):
    store_hits(hit(site, "/before", at=datetime(2024, 1, 31, 23, 59, 59)),
               hit(site, "/first", at=datetime(2024, 2, 1, 0, 0, 0)),
               hit(site, "/last", at=datetime(2024, 2, 3, 23, 59, 59)),
               hit(site, "/after", at=datetime(2024, 2, 4, 0, 0, 0)))
    status, rows = get(client, auth, "?from=2024-02-01&to=2024-02-03&verbose=true")
    assert status == 200 and [row["path"] for row in rows] == ["/last", "/first"]
    status, rows = get(client, auth, "?from=2024-02-03&to=2024-02-03&verbose=true")
    assert [row["path"] for row in rows] == ["/last"]
    # `from` alone: until now.
    status, rows = get(client, auth, "?from=2024-02-04&verbose=true")
    assert [row["path"] for row in rows] == ["/after"]


def test_site_filter(client, auth, site, other, store_hits):
    store_hits(hit(site, "/mine"), hit(other, "/theirs"))
    for domain in ("example.com", "EXAMPLE.com"):
        status, rows = get(client, auth, f"?site={domain}")
        assert status == 200 and [row["path"] for row in rows] == ["/mine"]
    status, rows = get(client, auth, "?site=other.example&verbose=true")
    assert [(row["site"], row["path"]) for row in rows] == [("other.example", "/theirs")]
    for unknown in ("nope.example", "example", "%20", "%00", "a%00b.com", "x" * 300):
        assert get(client, auth, f"?site={unknown}") == (404, {"error": "site not found"})
    # A deleted site is unknown, and its pageviews are no longer reported.
    accounts.delete_site(other)
    assert get(client, auth, "?site=other.example") == (404, {"error": "site not found"})
    assert [row["site"] for row in get(client, auth)[1]] == ["example.com"]


def test_a_token_for_some_sites_sees_only_those(client, user, site, other, store_hits):
    store_hits(hit(site, "/mine"), hit(other, "/theirs"))
    _t, secret = accounts.create_token(user, "one", accounts.permission_bits(["stats"]),
                                       [other.id])
    headers = {"Authorization": f"Bearer {secret}"}
    assert [row["path"] for row in get(client, headers)[1]] == ["/theirs"]
    assert get(client, headers, "?site=example.com") == (404, {"error": "site not found"})


def test_nothing_recorded_is_an_empty_array(client, auth):
    assert get(client, auth) == (200, [])
    assert get(client, auth, "?verbose=true&last=30d") == (200, [])


@pytest.mark.parametrize("query, message", [
    ("?from=2024-1-01&to=2024-01-02", "invalid date"),
    ("?from=2024-02-30&to=2024-03-01", "invalid date"),
    ("?from=yesterday&to=2024-03-01", "invalid date"),
    ("?from=2024-01-01T00:00:00&to=2024-03-01", "invalid date"),
    ("?from=2024-01-01&to=", "invalid date"),
    ("?from=0001-01-01&to=9999-12-31", "invalid date"),
    ("?from=2024-01-01&to=2024-01-01x", "invalid date"),
    ("?from=2024-03-02&to=2024-03-01", "from is after to"),
    ("?to=2024-03-01", "missing from"),
    ("?last=0h", "invalid last"), ("?last=7w", "invalid last"), ("?last=h", "invalid last"),
    ("?last=-1d", "invalid last"), ("?last=1.5d", "invalid last"), ("?last=7D", "invalid last"),
    ("?last=", "invalid last"), ("?last=99999999d", "invalid last"),
    ("?last=36601d", "invalid last"), ("?last=7d&from=2024-01-01", "use either last or from/to"),
    ("?verbose=maybe", "invalid verbose"), ("?limit=0", "invalid limit"),
    ("?limit=10001", "invalid limit"), ("?limit=ten", "invalid limit"),
    ("?cursor=nonsense", "invalid cursor"), ("?cursor=e30", "invalid cursor"),
])
def test_bad_parameters(client, auth, query, message):
    assert get(client, auth, query) == (400, {"error": message})


def test_time_is_rfc3339_utc(client, auth, site, store_hits):
    store_hits(hit(site, "/", at=datetime(2024, 3, 9, 23, 5, 7)))
    (row,) = get(client, auth, "?verbose=true")[1]
    assert row["time"] == "2024-03-09T23:05:07Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["time"])
