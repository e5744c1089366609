"""The dashboard over HTTP (the browser tests are in test_dashboard_browser.py): the page and
its controls, every widget partial (the same numbers as the GoatCounter API for the same
query), drill-downs and paging, bad input, who may read a dashboard (private, public, secret
link), the embeddable mode's frame policy, escaping, the saved default view and the user's
display and widget settings."""
import re
from datetime import datetime, timezone
from html import unescape

import pytest

from app import accounts, clock
from app.extensions import db
from app.ingest.hit_in import HitIn
from app.ui import widgets
from tests.ui.conftest import text

NOW = datetime(2020, 6, 18, 12, 13, 14)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:{0}.0) Gecko/20100101 Firefox/{0}.0"
CHROME_WIN = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/106.0.0.0 Safari/537.36")
XSS = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'


@pytest.fixture
def now():
    clock.freeze(NOW)
    yield NOW
    clock.freeze(None)


def unix(*args):
    return datetime(*args, tzinfo=timezone.utc).timestamp()


def pageview(site, path, when, **fields):
    fields.setdefault("family", "gc-api")
    fields.setdefault("no_session", True)
    fields.setdefault("user_agent", FIREFOX.format(80))
    return HitIn(site_id=site.id, path=path, created_at=when, **fields)


@pytest.fixture
def seeded(site, store_hits, now):
    store_hits(
        pageview(site, "/", unix(2020, 6, 18, 9), referrer="https://news.example/item",
                 width=1280, location="NL-NH", title="Home"),
        pageview(site, "/", unix(2020, 6, 17, 9), user_agent=CHROME_WIN, width=400,
                 location="DE"),
        pageview(site, "/blog", unix(2020, 6, 16, 9), query="utm_campaign=spring&utm_source=mail",
                 title="Blog"),
        pageview(site, "/blog", unix(2020, 6, 8, 9)),  # the previous week
        pageview(site, "signup", unix(2020, 6, 18, 10), kind="event"))
    return site


def widget(client, site, key, **args):
    response = client.get(f"/sites/{site.id}/dashboard/widgets/{key}", query_string={
        "period": "week", **args})
    assert response.status_code == 200, key
    return text(response)


def state(html):
    return re.search(r'class="widget widget-[a-z]+ state-([a-z]+)"', html).group(1)


def api(client, token, url):
    response = client.get(url, headers={"Authorization": f"Bearer {token.secret}"})
    assert response.status_code == 200, response.data
    return response.get_json()


# --- the page ---------------------------------------------------------------------------------

def test_page_has_a_placeholder_per_widget_loading_in_parallel(logged_in, seeded):
    html = text(logged_in.get(f"/sites/{seeded.id}/dashboard"))
    sections = re.findall(r'<section class="widget widget-(\w+) state-loading"[^>]*'
                          r'hx-get="([^"]+)" hx-trigger="load" hx-swap="outerHTML"', html)
    assert [key for key, _ in sections] == list(widgets.WIDGETS)
    assert all(f"/sites/{seeded.id}/dashboard/widgets/{key}?" in url for key, url in sections)
    assert html.count("Loading…") == len(widgets.WIDGETS)


def test_controls_carry_all_state_in_the_url(logged_in, seeded):
    html = unescape(text(logged_in.get(f"/sites/{seeded.id}/dashboard", query_string={
        "period-start": "2020-06-01", "period-end": "2020-06-18", "group": "day",
        "filter": "blog"})))
    assert 'value="2020-06-01"' in html and 'value="2020-06-18"' in html
    assert 'name="filter" value="blog"' in html
    # Quick links, steps and grouping links keep the other state.
    assert f"/sites/{seeded.id}/dashboard?period=month&group=day&filter=blog" in html
    assert "period-start=2020-05-25&period-end=2020-06-11&group=day&filter=blog" in html
    assert "period-start=2020-06-02&period-end=2020-06-19" not in html  # no step past today
    assert re.search(r'href="[^"]*group=hour[^"]*">hour</a>', html)
    assert ">week</a>" not in html.split('aria-label="View by"')[1].split("</nav>")[0]
    assert "widgets/pages?period-start=2020-06-01&period-end=2020-06-18&group=day&filter=blog" \
        in html


def test_bad_control_values_fall_back_with_a_message(logged_in, seeded):
    for args, message in [({"period-start": "yesterday", "period-end": "2020-06-18"}, "Start must be"),
                          ({"period-start": "2020-06-18", "period-end": "2020-06-01"}, "before the start"),
                          ({"period-start": "2000-01-01", "period-end": "2020-06-18"}, "too long"),
                          ({"period": "fortnight"}, "Unknown period"),
                          ({"period-start": "0001-01-01", "period-end": "0001-01-02"}, "between"),
                          ({"period-start": "9999-12-30", "period-end": "9999-12-31"}, "between"),
                          ({"group": "decade", "period": "week"}, None)]:
        response = logged_in.get(f"/sites/{seeded.id}/dashboard", query_string=args)
        assert response.status_code == 200
        if message:
            assert message in text(response)
        assert "2020-06-11" in text(response)  # the last week is shown instead


def test_nul_and_odd_characters_in_the_url_are_harmless(logged_in, seeded):
    response = logged_in.get(f"/sites/{seeded.id}/dashboard?filter=%00bl%00og&group=%00")
    assert response.status_code == 200 and 'value="blog"' in text(response)
    assert state(widget(logged_in, seeded, "pages", filter="\x00blog")) == "ok"
    assert state(widget(logged_in, seeded, "browsers", drill="Fire\x00fox")) == "ok"
    assert state(widget(logged_in, seeded, "pages", more="\u0663")) == "ok"
    odd = logged_in.get(f"/sites/{seeded.id}/dashboard/widgets/sizes?drill=%ED%A0%80%FF")
    assert odd.status_code == 200 and state(text(odd)) == "error"  # not a size bucket


def test_site_switcher_lists_the_other_sites(logged_in, seeded):
    other = accounts.create_site("other.example", name="Other site")
    html = text(logged_in.get(f"/sites/{seeded.id}/dashboard"))
    assert f'href="/sites/{other.id}/dashboard?period=week' in html and "Other site" in html


def test_dashboard_link_goes_to_the_first_site(logged_in, seeded):
    response = logged_in.get("/sites/dashboard")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/sites/{seeded.id}/dashboard"


# --- widgets: the same numbers as the API -----------------------------------------------------

def test_every_widget_renders_for_seeded_data(logged_in, seeded):
    states = {key: state(widget(logged_in, seeded, key)) for key in widgets.WIDGETS}
    assert states == {**dict.fromkeys(widgets.WIDGETS, "ok"), "filtered": "empty"}


def test_summary_matches_the_apis(logged_in, seeded, api_token):
    html = widget(logged_in, seeded, "summary")
    total = api(logged_in, api_token, "/api/v0/stats/total?start=2020-06-11T00:00:00Z"
                                      "&end=2020-06-18T23:59:59Z")["total"]
    figures = dict(re.findall(r"<dt>([^<]+)</dt>\s*<dd><span class=\"value\">([^<]+)</span>", html))
    assert figures["Visitors"] == str(total) == "4"
    assert figures["Pageviews"] == "3"  # the event is not a pageview
    assert figures["Bounce rate"] == "100.0%"
    assert "+300%" in html  # 4 visitors versus 1 in the week before


def test_browsers_widget_matches_the_api_and_drills_down(logged_in, seeded, api_token):
    html = widget(logged_in, seeded, "browsers")
    stats = api(logged_in, api_token, "/api/v0/stats/browsers?start=2020-06-11T00:00:00Z"
                                      "&end=2020-06-18T23:59:59Z")["stats"]
    names = re.findall(r'class="rowname linklike"[^>]*>([^<]+)</button>', html)
    assert names == [row["name"] for row in stats] == ["Firefox", "Chrome"]
    assert "75.0%" in html and "25.0%" in html  # of 4 visitors
    drilled = widget(logged_in, seeded, "browsers", drill="Firefox")
    assert 'aria-expanded="true"' in drilled and "Firefox 80" in drilled


def test_locations_drill_down_to_regions(logged_in, seeded):
    html = widget(logged_in, seeded, "locations", drill="NL")
    assert re.search(r'<ul class="drill" aria-label="Inside [^"]+">', html)


def test_paths_widget_with_change_and_referrers(logged_in, seeded, api_token):
    html = widget(logged_in, seeded, "pages")
    hits = api(logged_in, api_token, "/api/v0/stats/hits?start=2020-06-11T00:00:00Z"
                                     "&end=2020-06-18T23:59:59Z")["hits"]
    paths = re.findall(r'class="linklike rowname"[^>]*>([^<]+)</button>', html)
    assert paths == [h["path"] for h in hits]
    assert "<svg class=\"chart mini\"" in html and "<title>" in html
    home = next(h for h in hits if h["path"] == "/")
    refs = widget(logged_in, seeded, "pages", drill=str(home["path_id"]))
    assert "Referrers of /" in refs and "news.example/item" in refs
    blog = re.search(r">/blog</button>.*?<td class=\"num change ([a-z]+)\"[^>]*>([^<]+)</td>",
                     html, re.S)
    assert blog.groups() == ("up", "+0%")  # 1 visitor now, 1 the week before


def test_show_more_grows_the_list(logged_in, site, store_hits, now):
    store_hits(*[pageview(site, f"/p{n}", unix(2020, 6, 18, 1)) for n in range(15)])
    first = widget(logged_in, site, "pages")
    assert first.count('class="pathrow') == 10 and "Show more" in first
    more = widget(logged_in, site, "pages", more="2")
    assert more.count('class="pathrow') == 15 and "Show more" not in more
    assert state(widget(logged_in, site, "pages", more="999999999999")) == "ok"


def test_total_chart_has_a_bar_title_per_bucket(logged_in, seeded):
    html = widget(logged_in, seeded, "totalpages", group="day")
    titles = re.findall(r"<g class=\"bucket[^\"]*\"><title>([^<]+)</title>", html)
    assert len(titles) == 8 and titles[-1] == "18 Jun 2020: 2 visitors"
    hourly = widget(logged_in, seeded, "totalpages")
    assert len(re.findall(r"<g class=\"bucket", hourly)) == 8 * 24


def test_filter_narrows_every_widget(logged_in, seeded):
    html = widget(logged_in, seeded, "pages", filter="blog")
    assert re.findall(r'class="linklike rowname"[^>]*>([^<]+)</button>', html) == ["/blog"]
    summary = widget(logged_in, seeded, "summary", filter="blog")
    assert "of the whole site" in summary
    assert state(widget(logged_in, seeded, "browsers", filter="nothing-matches")) == "empty"


def test_realtime_refreshes_itself(logged_in, site, store_hits, now):
    store_hits(pageview(site, "/", unix(2020, 6, 18, 12, 12), no_session=False, session="a"))
    html = widget(logged_in, site, "realtime")
    assert 'hx-trigger="every 30s"' in html and ">1</span>" in html
    assert "visitor in the last 5 minutes" in html


def test_filtered_widget_counts_reasons(logged_in, site, store_hits, now):
    store_hits(pageview(site, "/", unix(2020, 6, 18, 12), user_agent="Googlebot/2.1"),
               pageview(site, "/", unix(2020, 6, 18, 12), referrer="http://localhost/x"))
    html = widget(logged_in, site, "filtered")
    assert re.search(r'data-reason="bot"><th scope="row">[^<]+</th><td class="num">1<', html)
    assert re.search(r'data-reason="spam"><th scope="row">[^<]+</th><td class="num">1<', html)
    assert "Googlebot/2.1" in html and "http://localhost/x" in html


def test_widget_errors_render_in_place_with_200(logged_in, seeded):
    html = widget(logged_in, seeded, "campaigns", drill="not-a-number")
    assert state(html) == "error" and "must be a whole number" in html
    assert 'role="alert"' in html and "Try again" in html
    html = widget(logged_in, seeded, "pages", drill="x")
    assert state(html) == "error"


def test_unexpected_failure_is_logged_and_shown_as_error(logged_in, seeded, caplog):
    # A real failure of the database: the table only this widget reads is gone.
    db.session.execute(db.text("DROP TABLE bot_hits"))
    db.session.commit()
    try:
        html = widget(logged_in, seeded, "filtered")
        assert state(html) == "error" and "could not be loaded" in html
        assert "Traceback" not in html and "bot_hits" not in html
        assert "dashboard widget filtered failed" in caplog.text
        assert state(widget(logged_in, seeded, "browsers")) == "ok"
    finally:
        db.metadata.tables["bot_hits"].create(db.engine)


def test_unknown_widget_is_404(logged_in, seeded):
    assert logged_in.get(f"/sites/{seeded.id}/dashboard/widgets/nope").status_code == 404
    assert logged_in.get("/sites/999/dashboard").status_code == 404


# --- escaping ---------------------------------------------------------------------------------

def test_attacker_controlled_strings_are_escaped(logged_in, site, store_hits, now):
    store_hits(pageview(site, "/" + XSS, unix(2020, 6, 18, 9), title=XSS,
                        referrer="https://evil.example/" + XSS, query="utm_campaign=" + XSS,
                        user_agent=FIREFOX.format(80)),
               pageview(site, "/", unix(2020, 6, 18, 9), user_agent="bot " + XSS, bot=3),
               pageview(site, "/x", unix(2020, 6, 18, 9), referrer="http://localhost/" + XSS))
    for key in widgets.WIDGETS:
        html = widget(logged_in, site, key)
        assert "<script>" not in html and "<img src=x" not in html, key
    pages = widget(logged_in, site, "pages")
    assert "&lt;script&gt;document.title=" in pages
    html = text(logged_in.get(f"/sites/{site.id}/dashboard", query_string={"filter": XSS}))
    assert "<script>document" not in html and "&lt;script&gt;" in html


# --- access -----------------------------------------------------------------------------------

def test_private_dashboard_needs_a_login(client, seeded):
    response = client.get(f"/sites/{seeded.id}/dashboard")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert client.get(f"/sites/{seeded.id}/dashboard/widgets/summary").status_code == 403


def test_public_dashboard_is_readable_by_anyone(client, seeded):
    accounts.update_site(seeded, settings={"public": "public"})
    html = text(client.get(f"/sites/{seeded.id}/dashboard"))
    assert "state-loading" in html and "Save as default view" not in html
    assert state(widget(client, seeded, "browsers")) == "ok"
    # What was filtered (user agents of bots, spam referrers) is for the site's users.
    assert "widget-filtered" not in html
    assert client.get(f"/sites/{seeded.id}/dashboard/widgets/filtered").status_code == 403
    assert client.post(f"/sites/{seeded.id}/dashboard/default-view").status_code == 302
    assert client.get("/sites/dashboard").status_code == 302  # the site list stays private


def test_a_public_reader_sees_the_owners_time_zone_and_layout(new_client, logged_in, user,
                                                              seeded):
    """Readers without an account get the owner's time zone, formats and widget layout (not
    UTC and every widget), and nothing else of the owner's settings; a signed-in reader keeps
    their own."""
    accounts.update_site(seeded, settings={"public": "public"})
    reader = new_client()
    seeded.owner_id = user.id
    user.settings = {**(user.settings or {}), "timezone": "JP.Asia/Tokyo",
                     "twenty_four_hours": True,
                     "widgets": [{"n": "totalpages", "s": {}}, {"n": "pages", "s": {}}],
                     "views": [{"name": "default", "filter": "blog", "group": 0, "period": "0"}]}
    db.session.commit()
    # The 09:00 UTC pageview of 18 June is 18:00 in Tokyo (the owner's zone).
    day = {"period-start": "2020-06-18", "period-end": "2020-06-18", "group": "hour"}
    public = widget(reader, seeded, "totalpages", **day)
    assert "18 Jun 2020 18:00: 1 visitor<" in unescape(public)
    assert "18 Jun 2020 09:00: 1 visitor<" not in unescape(public)
    html = text(reader.get(f"/sites/{seeded.id}/dashboard"))
    assert "Save as default view" not in html  # really read without an account
    keys = re.findall(r'<section class="widget widget-(\w+) state-loading"', html)
    assert keys == ["totalpages", "pages"]
    assert 'value="blog"' not in html  # the owner's saved view (its filter) stays theirs
    # The owner, signed in, sees the same hours; a signed-in user of another zone their own.
    assert "18 Jun 2020 18:00: 1 visitor<" in unescape(widget(logged_in, seeded, "totalpages",
                                                              **day))
    user.settings = {**user.settings, "timezone": ".UTC"}
    db.session.commit()
    assert "18 Jun 2020 09:00: 1 visitor<" in unescape(widget(logged_in, seeded, "totalpages",
                                                              **day))


def test_secret_link(client, new_client, seeded):
    accounts.update_site(seeded, settings={"public": "secret", "secret": "Sesame1234"})
    response = client.get(f"/sites/{seeded.id}/dashboard?access-token=Sesame1234&period=month")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/sites/{seeded.id}/dashboard?period=month"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and f"Path=/sites/{seeded.id}/" in cookie
    assert client.get(f"/sites/{seeded.id}/dashboard").status_code == 200
    assert state(widget(client, seeded, "summary")) == "ok"
    stranger = new_client()
    assert stranger.get(f"/sites/{seeded.id}/dashboard?access-token=wrong").status_code == 403
    assert stranger.get(f"/sites/{seeded.id}/dashboard").status_code == 302
    assert stranger.get(f"/sites/{seeded.id}/dashboard/widgets/summary").status_code == 403
    # A new secret invalidates the old link.
    accounts.update_site(seeded, settings={"secret": "Other98765"})
    assert client.get(f"/sites/{seeded.id}/dashboard/widgets/summary").status_code == 403


def test_pages_refuse_framing_except_embed_mode(logged_in, seeded):
    response = logged_in.get(f"/sites/{seeded.id}/dashboard")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    accounts.update_site(seeded, settings={"allow_embed": [
        "https://blog.example.org", "http://localhost:8080/", "javascript:alert(1)",
        "https://x.example; script-src *"]})
    response = logged_in.get(f"/sites/{seeded.id}/dashboard?hideui=1")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' https://blog.example.org http://localhost:8080;" in csp
    assert "script-src 'self';" in csp and "script-src *" not in csp
    assert "X-Frame-Options" not in response.headers
    html = text(response)
    assert 'class="controls' not in html and 'class="topbar"' not in html
    assert "hideui=1" in html  # the widgets stay in embedded mode


# --- saved view and settings ------------------------------------------------------------------

def test_save_default_view(logged_in, seeded, user):
    response = logged_in.post(f"/sites/{seeded.id}/dashboard/default-view",
                              data={"period": "month", "group": "day", "filter": "blog"})
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.settings["views"] == [{"name": "default", "filter": "blog", "group": 1,
                                       "period": "month"}]
    html = unescape(text(logged_in.get(f"/sites/{seeded.id}/dashboard")))
    assert 'name="filter" value="blog"' in html and 'value="2020-05-18"' in html
    assert "widgets/summary?period=month&group=day&filter=blog" in html


def test_settings_reorder_and_hide_widgets_and_theme(logged_in, seeded, user):
    page = text(logged_in.get("/user/settings"))
    assert 'name="position_summary"' in page and 'name="show_filtered"' in page
    form = {"timezone": "Europe/Amsterdam", "twenty_four_hours": "", "number_format": "44",
            "theme": "dark"}
    order = ["browsers", "summary", "pages"]
    for n, key in enumerate(order):
        form[f"show_{key}"] = "y"
        form[f"position_{key}"] = str(n + 1)
    for key in widgets.WIDGETS:
        form.setdefault(f"position_{key}", "50")
    response = logged_in.post("/user/settings", data=form)
    assert response.status_code == 302, text(response)
    db.session.refresh(user)
    assert user.settings["timezone"] == ".Europe/Amsterdam" and user.settings["theme"] == "dark"
    assert [w["n"] for w in user.settings["widgets"]] == order
    html = text(logged_in.get(f"/sites/{seeded.id}/dashboard"))
    assert re.findall(r'<section class="widget widget-(\w+)', html) == order
    assert '<html lang="en" data-theme="dark">' in html


def test_settings_refuse_bad_values(logged_in, user):
    form = {"timezone": "Mars/Olympus", "number_format": "7", "theme": "neon"}
    for key in widgets.WIDGETS:
        form[f"position_{key}"] = "0"
    response = logged_in.post("/user/settings", data=form)
    assert response.status_code == 200
    assert text(response).count('class="error"') >= 3
    db.session.refresh(user)
    assert user.settings["timezone"] == ".UTC"


def test_number_format_and_clock_apply_to_widgets(logged_in, site, store_hits, now, user):
    store_hits(*[pageview(site, f"/p{n % 3}", unix(2020, 6, 18, 13 + n % 5)) for n in range(1234)])
    user.settings = {**user.settings, "number_format": 44, "twenty_four_hours": False}
    db.session.commit()
    html = widget(logged_in, site, "summary")
    assert ">1,234</span>" in html
    assert "18 Jun 2020 1 pm:" in widget(logged_in, site, "totalpages")


def test_week_bars_follow_the_users_week_start(logged_in, seeded, user):
    """Weekly bars are calendar weeks that start on the reader's first weekday (the range's
    first bar may be partial); the visitors are the same either way."""
    args = {"period-start": "2020-03-18", "period-end": "2020-06-18", "group": "week",
            "period": None}

    def bars():
        html = widget(logged_in, seeded, "totalpages", **args)
        return re.findall(r"<g class=\"bucket[^\"]*\"><title>([^<]+)</title>", html)

    monday = bars()
    assert monday[0] == "18 Mar 2020 – 22 Mar 2020: 0 visitors"  # Wednesday to Sunday
    assert monday[-2:] == ["8 Jun 2020 – 14 Jun 2020: 1 visitor",
                           "15 Jun 2020 – 18 Jun 2020: 4 visitors"]
    user.settings = {**user.settings, "sunday_starts_week": True}
    db.session.commit()
    sunday = bars()
    assert sunday[0] == "18 Mar 2020 – 21 Mar 2020: 0 visitors"  # Wednesday to Saturday
    assert sunday[-2:] == ["7 Jun 2020 – 13 Jun 2020: 1 visitor",
                           "14 Jun 2020 – 18 Jun 2020: 4 visitors"]
    total = lambda titles: sum(int(t.rsplit(": ", 1)[1].split()[0]) for t in titles)  # noqa: E731
    assert total(monday) == total(sunday) == 5
    paths = widget(logged_in, seeded, "pages", **args)
    assert "7 Jun 2020 – 13 Jun 2020: 1 visitor" in unescape(paths)


def test_week_buckets_split_on_the_week_start():
    from datetime import date, timedelta

    from app.stats.service import Day
    days = [Day(day=date(2024, 5, 1) + timedelta(n), hourly=[0] * 24, daily=n) for n in range(14)]
    monday = widgets.buckets(days, "week")  # 1 May 2024 is a Wednesday
    assert [(b.day.day, b.last_day.day, b.value) for b in monday] == [
        (1, 5, 0 + 1 + 2 + 3 + 4), (6, 12, sum(range(5, 12))), (13, 14, 12 + 13)]
    sunday = widgets.buckets(days, "week", week_start=6)
    assert [(b.day.day, b.last_day.day) for b in sunday] == [(1, 4), (5, 11), (12, 14)]
    assert sum(b.value for b in sunday) == sum(range(14))
    months = widgets.buckets(days, "month")
    assert len(months) == 1 and months[0].value == sum(range(14))
