"""Long /api/stats results: without `limit` the whole array streams in batches (the server
holds one batch at a time); with `limit` it comes in pages linked by a Link header (rel=next)
whose cursor keeps the first page's window."""
import json
import re
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest

from app.clock import freeze
from app.stats.hits import BATCH
from tests.api.basic.conftest import CHROME

NOW = datetime(2024, 3, 10, 12, 0, 0)
LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


@pytest.fixture(autouse=True)
def frozen():
    freeze(NOW)
    yield
    freeze(None)


def seed(store_hits, site, count, start=NOW - timedelta(hours=1), step=timedelta(seconds=1)):
    """``count`` pageviews spread over paths and /24 networks, one per ``step`` back."""
    store_hits(*({"site_id": site.id, "path": f"/p{n % 7}", "family": "basic",
                  "created_at": (start - n * step).replace(tzinfo=timezone.utc).timestamp(),
                  "ip": f"192.0.{n % 5}.1", "user_agent": CHROME} for n in range(count)))


def pages(client, auth, url):
    """Follow the Link headers from ``url``; returns the list of pages (each a list of rows)."""
    result = []
    while url:
        response = client.get(url, headers=auth)
        assert response.status_code == 200, response.json
        result.append(response.json)
        link = response.headers.get("Link")
        url = LINK.match(link)["url"] if link else None
        if url:
            assert url.startswith("http://localhost/api/stats?")
    return result


@pytest.mark.parametrize("verbose", ["true", "false"])
def test_pages_add_up_to_the_whole_result(client, auth, site, store_hits, verbose):
    seed(store_hits, site, 47)
    whole = client.get(f"/api/stats?verbose={verbose}", headers=auth).json
    assert len(whole) == (47 if verbose == "true" else 35)  # 7 paths × 5 networks
    got = pages(client, auth, f"/api/stats?verbose={verbose}&limit=10")
    assert [len(page) for page in got] == [10] * (len(whole) // 10) + [len(whole) % 10]
    assert [row for page in got for row in page] == whole
    # A limit that fits everything: one page, no Link.
    response = client.get(f"/api/stats?verbose={verbose}&limit=100", headers=auth)
    assert response.json == whole and "Link" not in response.headers


def test_the_cursor_keeps_the_window_of_the_first_page(client, auth, site, store_hits):
    seed(store_hits, site, 3, start=NOW - timedelta(hours=23, minutes=30))
    first = client.get("/api/stats?verbose=true&last=24h&limit=2", headers=auth)
    assert len(first.json) == 2
    next_url = LINK.match(first.headers["Link"])["url"]
    assert parse_qs(urlsplit(next_url).query)["last"] == ["24h"]
    # Two hours later: a new pageview, and the oldest one left the last 24 hours.
    freeze(NOW + timedelta(hours=2))
    seed(store_hits, site, 1, start=NOW + timedelta(hours=1))
    rest = client.get(next_url, headers=auth)
    assert rest.status_code == 200 and "Link" not in rest.headers
    assert [row["time"] for row in rest.json] == ["2024-03-09T12:29:58Z"]
    fresh = client.get("/api/stats?verbose=true&last=24h", headers=auth).json
    assert [row["time"] for row in fresh] == ["2024-03-10T13:00:00Z"]


def test_a_cursor_is_for_one_mode(client, auth, site, store_hits):
    seed(store_hits, site, 5)
    for mode, other in (("true", "false"), ("false", "true")):
        response = client.get(f"/api/stats?verbose={mode}&limit=2", headers=auth)
        cursor = parse_qs(urlsplit(LINK.match(response.headers["Link"])["url"]).query)["cursor"]
        response = client.get(f"/api/stats?verbose={other}&cursor={cursor[0]}", headers=auth)
        assert (response.status_code, response.json) == (400, {"error": "invalid cursor"})


def test_a_long_result_streams_in_batches(client, auth, site, store_hits):
    total = 2 * BATCH + 150
    seed(store_hits, site, total, step=timedelta(seconds=0.5))
    response = client.get("/api/stats?verbose=true", headers=auth)
    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "application/json"
    chunks = list(response.response)
    assert len(chunks) == 4  # "[" + batch, batch, batch, "]"
    rows = json.loads(b"".join(c if isinstance(c, bytes) else c.encode() for c in chunks))
    assert len(rows) == total
    times = [row["time"] for row in rows]
    assert times == sorted(times, reverse=True)
    aggregate = client.get("/api/stats", headers=auth)
    assert aggregate.is_streamed and sum(row["count"] for row in aggregate.json) == total
