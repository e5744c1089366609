"""track.js in a real browser (Debian's Chromium through Playwright) on a page of another
origin: its pageviews, including a history navigation, come back from a live Ibex's
/api/stats?verbose=true (and the aggregate), as a Basic API client reads them over HTTP."""
import json
import urllib.request

import pytest

from app import accounts
from app.extensions import db
# The live Ibex, the page server and the browser of the tracking end-to-end tests.
from tests.tracking.test_end_to_end import (ANONYMISED_IP, NEWS, PAGES, browser,  # noqa: F401
                                            follow_link, html, ibex, new_page, origin)

pytestmark = pytest.mark.browser


def api_get(server, secret, path):
    request = urllib.request.Request(server.url + path,
                                     headers={"Authorization": f"Bearer {secret}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.headers.get_content_type() == "application/json"
        return json.loads(response.read())


def test_track_js_pageviews_show_up_in_verbose_stats(ibex, origin, new_page):  # noqa: F811
    with ibex.app.app_context():
        admin = accounts.create_user("admin", "correct horse battery", role="*")
        _token, secret = accounts.create_token(admin, "stats reader")
        db.session.remove()
    assert api_get(ibex, secret, "/api/stats?verbose=true") == []

    page = new_page()
    PAGES["/shop"] = html(f"<title>Shop</title><script src='{ibex.url}/track.js' defer>"
                          "</script>")
    follow_link(page, NEWS, origin + "/shop?item=7")
    ibex.wait_for(page, 1)
    page.evaluate("history.pushState({}, '', '/shop/cart')")
    assert ibex.flush(page, 2) == 2

    rows = api_get(ibex, secret, "/api/stats?verbose=true")
    assert [row["path"] for row in rows] == ["/shop/cart", "/shop?item=7"]  # newest first
    for row in rows:
        assert row["site"] == "localhost"  # the page's host, not Ibex's
        assert (row["browser"], row["os"]) == ("Chrome 124", "Windows 10")
        assert row["ip"] == ANONYMISED_IP
        assert row["referrer"] == "http://news.example/"
        assert (row["country"], row["region"], row["city"]) == ("", "", "")  # 127.0.0.1
        assert row["time"].endswith("Z") and len(row["time"]) == 20
    assert rows[0]["time"] >= rows[1]["time"]

    assert sorted(api_get(ibex, secret, "/api/stats?site=localhost"),
                  key=lambda row: row["path"]) == [
        {"site": "localhost", "ip": ANONYMISED_IP, "path": "/shop/cart", "count": 1},
        {"site": "localhost", "ip": ANONYMISED_IP, "path": "/shop?item=7", "count": 1}]
    assert api_get(ibex, secret, "/api/stats?site=example.com&verbose=true") == []
    assert page.console.errors == []
