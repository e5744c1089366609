"""The visitor counter /counter/<path>.<ext> (GoatCounter spec §7.3): counts per path and for
the whole site, the site's opt-in, ranges, formats, caching headers and escaping."""
import io
from datetime import datetime, timezone

import pytest
from PIL import Image

from app import accounts, clock
from app.extensions import db
from app.ingest.hit_in import HitIn

NOW = datetime(2020, 6, 18, 12)


@pytest.fixture
def counting_site(site, store_hits):
    clock.freeze(NOW)
    site.settings = {**site.settings, "allow_counter": True}
    db.session.commit()

    def hit(path, when, session):
        return HitIn(site_id=site.id, path=path, family="gc-api", session=session,
                     created_at=when.replace(tzinfo=timezone.utc).timestamp())
    store_hits(hit("/about", datetime(2020, 6, 18, 10), "a"),
               hit("/about", datetime(2020, 6, 18, 11), "a"),
               hit("/about", datetime(2020, 1, 2, 11), "b"),
               *[hit("/home", datetime(2020, 6, 17, 9), f"s{n}") for n in range(1234)])
    yield site
    clock.freeze(None)


def test_json_counts_visitors_and_pageviews(client, counting_site):
    response = client.get("/counter/about.json")
    assert response.status_code == 200
    assert response.get_json() == {"count_unique": "2", "count": "3"}
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cache-Control"] == "public, max-age=14400"
    assert response.headers["Expires"].endswith("GMT")
    assert client.get("/counter/%2Fabout.json").get_json()["count_unique"] == "2"
    # Thousands separated by U+202F, GoatCounter's default number format.
    assert client.get("/counter/TOTAL.json").get_json() == {"count_unique": "1\u202f236",
                                                           "count": "1\u202f237"}


def test_ranges(client, counting_site):
    assert client.get("/counter/about.json?start=week").get_json()["count_unique"] == "1"
    assert client.get("/counter/about.json?start=2020-01-01&end=2020-01-31"
                      ).get_json()["count_unique"] == "1"
    assert client.get("/counter/about.json?start=yesterday").status_code == 400
    assert client.get("/counter/about.json?end=2020-13-01").status_code == 400


def test_unknown_path_is_404_with_zero(client, counting_site):
    response = client.get("/counter/nope.json")
    assert response.status_code == 404
    assert response.get_json() == {"count_unique": "0", "count": "0"}


def test_unknown_extension_and_disabled_counter(client, counting_site):
    assert client.get("/counter/about.gif").status_code == 400
    assert client.get("/counter/about").status_code == 400
    counting_site.settings = {**counting_site.settings, "allow_counter": False}
    db.session.commit()
    from app.ingest import ingest
    ingest().sites.invalidate()
    assert client.get("/counter/about.json").status_code == 403


def test_html_svg_and_png(client, counting_site):
    html = client.get("/counter/about.html")
    assert html.status_code == 200 and html.mimetype == "text/html"
    assert b'<span id="ibex-counter-count">2</span>' in html.data and b"Ibex" in html.data
    assert b"Ibex" not in client.get("/counter/about.html?no_branding=1").data
    svg = client.get("/counter/about.svg")
    assert svg.mimetype == "image/svg+xml" and b">2</text>" in svg.data
    png = client.get("/counter/about.png")
    assert png.mimetype == "image/png"
    image = Image.open(io.BytesIO(png.data))
    assert image.format == "PNG" and image.size[1] == 22


def test_style_cannot_break_out(client, counting_site):
    payload = "color:red}</style><script>alert(1)</script>"
    for ext in ("html", "svg"):
        body = client.get(f"/counter/about.{ext}", query_string={"style": payload}).data
        assert b"<script>" not in body and b"</style><" not in body.replace(b"</style></head>", b"")
        assert b"color:red}" in body


def test_site_is_found_by_origin_among_several(client, counting_site):
    other = accounts.create_site("other.example")
    other.settings = {**other.settings, "allow_counter": True}
    db.session.commit()
    response = client.get("/counter/about.json", headers={"Origin": "https://example.com"})
    assert response.get_json()["count_unique"] == "2"
    assert client.get("/counter/about.json",
                      headers={"Origin": "https://other.example"}).status_code == 404
    assert client.get("/counter/about.json").status_code == 400
