"""The three API families report the same numbers for the same hits wherever they report the
same quantity: hits sent through all three tracking endpoints, read back through Umami's
stats, the Basic API's aggregate rows, GoatCounter's visitor counter and the dashboard's
summary (issue: "numbers agree with the GoatCounter family's numbers")."""
import time

from app.extensions import db
from app.ingest import ingest
from tests.api.umami.conftest import umami_login

UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/120.0.0.0 Safari/537.36")


def send_hits(client, site):
    """2 GoatCounter pageviews, 2 Umami pageviews + 1 event, 3 Basic pageviews, from three
    visitors."""
    for n, path in enumerate(("/a", "/b")):
        response = client.get(f"/count?p={path}", headers={"User-Agent": UA},
                              environ_base={"REMOTE_ADDR": f"198.51.100.{n + 1}"})
        assert response.status_code == 200, response.headers
    for payload, kind in (({"url": "/a"}, "pageview"), ({"url": "/c"}, "pageview"),
                          ({"url": "/c", "event_type": "click", "event_value": "signup"},
                           "event")):
        body = {"type": kind, "payload": {"website": site.uuid, "hostname": "example.com",
                                          "screen": "1920x1080", "language": "en-US", **payload}}
        response = client.post("/api/collect", json=body, headers={"User-Agent": UA},
                               environ_base={"REMOTE_ADDR": "198.51.100.7"})
        assert response.status_code == 200, response.data
    for path in ("/a", "/d", "/d"):
        response = client.post("/collect", json={"path": path, "screen": "390x844"},
                               headers={"User-Agent": UA, "Origin": "https://example.com"},
                               environ_base={"REMOTE_ADDR": "198.51.100.9"})
        assert response.status_code == 204, response.data
    ingest().flush()
    db.session.rollback()


def test_pageviews_agree_across_families(client, user, site, api_token):
    site.settings = {**site.settings, "allow_counter": True}
    db.session.commit()
    ingest().sites.invalidate()
    send_hits(client, site)
    now_ms = int(time.time() * 1000)

    token = umami_login(client, user.username)
    umami = client.get(f"/api/website/{site.id}/stats",
                       query_string={"start_at": now_ms - 3_600_000, "end_at": now_ms + 60_000},
                       headers={"Authorization": f"Bearer {token}"})
    assert umami.status_code == 200, umami.data
    umami_pageviews = umami.get_json()["pageviews"]

    events = client.get(f"/api/website/{site.id}/metrics",
                        query_string={"start_at": now_ms - 3_600_000, "end_at": now_ms + 60_000,
                                      "type": "event"},
                        headers={"Authorization": f"Bearer {token}"}).get_json()
    umami_events = sum(row["y"] for row in events)

    basic = client.get("/api/stats", query_string={"last": "1h"},
                       headers={"Authorization": f"Bearer {api_token.secret}"})
    assert basic.status_code == 200, basic.data
    basic_pageviews = sum(row["count"] for row in basic.get_json())

    counter = client.get("/counter/TOTAL.json").get_json()  # pageviews, events included

    assert umami_pageviews == basic_pageviews == 7
    assert umami_events == 1
    assert int(counter["count"]) == umami_pageviews + umami_events
    per_path = {}
    for row in basic.get_json():
        per_path[row["path"]] = per_path.get(row["path"], 0) + row["count"]
    assert per_path == {"/a": 3, "/b": 1, "/c": 1, "/d": 2}
    umami_urls = client.get(f"/api/website/{site.id}/metrics",
                            query_string={"start_at": now_ms - 3_600_000,
                                          "end_at": now_ms + 60_000, "type": "url"},
                            headers={"Authorization": f"Bearer {token}"}).get_json()
    assert {row["x"]: row["y"] for row in umami_urls} == per_path
