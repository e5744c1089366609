"""The dashboard in a real browser (Debian's Chromium through Playwright) against a live
server with CSRF on and seeded hits: every widget loads in parallel and renders (no console or
CSP errors), period and filter changes update the widgets, drill-downs, "show more", one
failing widget showing its error while the rest render, who may read a dashboard, keyboard
navigation, the theme, and XSS payloads in paths, titles and referrers shown as text."""
import re
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect, sync_playwright
from werkzeug.serving import make_server

from app import accounts
from app.extensions import db
from app.ingest import ingest
from app.ingest.hit_in import HitIn
from app.models import Site
from app.stats import service
from app.stats.query import StatsQuery
from app.ui import widgets
from tests.conftest import make_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
USERNAME, PASSWORD = "admin", "correct horse battery"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:{0}.0) Gecko/20100101 Firefox/{0}.0"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/106.0.0.0 Safari/537.36")
XSS_PATH = '/"><script>document.title="pwned-path"</script>'
XSS_TITLE = '<img src=x onerror="document.title=\'pwned-title\'">'
XSS_REF = 'https://evil.example/<script>document.title="pwned-ref"</script>'

pytestmark = pytest.mark.browser
expect.set_options(timeout=20_000)  # a shared 2-core machine: widgets may take seconds


def seed_hits(site_id):
    """Pageviews over the last 40 days through the real ingest path: three paths, two
    browsers, referrers, a campaign, sizes and countries; plus a bot that is filtered."""
    now = time.time()
    hits = []
    for n in range(120):
        when = now - (n % 40) * 86400 - (n % 7) * 3600 - 600
        path = ("/", "/blog", "/blog/hello", "/about")[n % 4]
        hits.append(HitIn(site_id=site_id, path=path, title=path.strip("/").title() or "Home",
                          created_at=when, family="gc-api", no_session=True,
                          user_agent=(FIREFOX.format(80 + n % 3) if n % 3 else CHROME),
                          referrer=("https://news.example/item", "", "https://search.example/")[n % 3],
                          query="utm_campaign=launch" if n % 10 == 0 else "",
                          width=(400, 1280, 2560)[n % 3], location=("NL-NH", "DE", "US-CA")[n % 3]))
    hits.append(HitIn(site_id=site_id, path="/", created_at=now - 30, family="gc-api",
                      user_agent="Googlebot/2.1 (+http://www.google.com/bot.html)"))
    hits.append(HitIn(site_id=site_id, path="/live", created_at=now - 30, family="gc-api",
                      session="right-now", user_agent=FIREFOX.format(80)))
    ingest().push(*hits)
    ingest().flush()


@pytest.fixture
def live(tmp_path):
    """Ibex on its own SQLite database with a user, a site and seeded hits, served by a
    threaded werkzeug server, CSRF enabled. Yields (app, base URL, site id)."""
    app = make_app("sqlite:///" + str(tmp_path / "dashboard.db"), tmp_path)
    app.config["WTF_CSRF_ENABLED"] = True
    with app.app_context():
        db.create_all()
        accounts.create_user(USERNAME, PASSWORD, role="a")
        site_id = accounts.create_site("example.org", name="Example").id
        seed_hits(site_id)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="ibex-dashboard", daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}", site_id
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Watched:
    """A page with its console errors and dialogs recorded."""

    def __init__(self, browser, **options):
        self.context = browser.new_context(**options)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.errors, self.dialogs = [], []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))


@pytest.fixture
def watched(browser):
    made = []

    def make(**options):
        made.append(Watched(browser, **options))
        return made[-1]
    yield make
    for w in made:
        w.context.close()


def log_in(page, base):
    page.goto(base + "/login")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Your sites")).to_be_visible()


def wait_for_widgets(page):
    """Until no widget is still loading; returns {key: state}."""
    expect(page.locator("section.widget.state-loading")).to_have_count(0)
    return dict(page.eval_on_selector_all(
        "section.widget", "els => els.map(e => [e.dataset.widget, "
                          "[...e.classList].find(c => c.startsWith('state-')).slice(6)])"))


def test_dashboard_renders_every_widget(live, watched):
    app, base, site_id = live
    w = watched()
    page = w.page
    requests = []
    page.on("request", lambda r: requests.append(r.url) if "/widgets/" in r.url else None)
    log_in(page, base)
    page.get_by_role("link", name="Dashboard").first.click()
    expect(page).to_have_url(re.compile(rf"/sites/{site_id}/dashboard$"))
    states = wait_for_widgets(page)
    assert states == dict.fromkeys(widgets.WIDGETS, "ok")
    assert sorted(url.split("/widgets/")[1].split("?")[0] for url in requests) \
        == sorted(widgets.WIDGETS)
    # The summary shows the stats service's visitors for the same week.
    with app.app_context():
        today = datetime.now(timezone.utc).replace(tzinfo=None).date()
        q = StatsQuery(site_id=site_id, start=datetime.combine(today - timedelta(days=7),
                                                               datetime.min.time()),
                       end=datetime.combine(today, datetime.max.time()).replace(microsecond=0))
        visitors = service.totals(q).total
    figure = page.locator(".widget-summary .figure").filter(has_text="Visitors")
    expect(figure.locator(".value")).to_have_text(str(visitors))
    expect(page.locator(".widget-realtime .value")).to_have_text("1")
    expect(page.locator(".widget-filtered tr[data-reason=bot] td")).to_have_text("1")
    # Charts are SVG with a title per bar (the tooltip).
    bars = page.locator(".widget-totalpages svg.chart g.bucket")
    assert bars.count() == 8 * 24
    assert re.match(r"\d+ \w{3} \d{4} \d\d:00: ", bars.nth(0).locator("title").text_content())
    assert w.errors == [] and w.dialogs == []


def test_changing_period_grouping_and_filter_updates_the_widgets(live, watched):
    app, base, site_id = live
    page = watched().page
    log_in(page, base)
    page.goto(f"{base}/sites/{site_id}/dashboard")
    wait_for_widgets(page)
    before = page.locator(".widget-summary .figure").first.locator(".value").text_content()
    page.get_by_role("navigation", name="Period").get_by_role("link", name="month").click()
    expect(page).to_have_url(re.compile(r"period=month"))
    wait_for_widgets(page)
    after = page.locator(".widget-summary .figure").first.locator(".value").text_content()
    assert int(after.replace("\u202f", "")) > int(before.replace("\u202f", ""))
    page.get_by_role("navigation", name="View by").get_by_role("link", name="day").click()
    expect(page).to_have_url(re.compile(r"group=day"))
    wait_for_widgets(page)
    assert page.locator(".widget-totalpages svg.chart g.bucket").count() in (31, 32)
    page.get_by_label("Filter paths").fill("/blog at:start")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"filter=%2Fblog"))
    wait_for_widgets(page)
    expect(page.locator(".widget-pages .pathrow")).to_have_count(2)
    assert sorted(page.locator(".widget-pages .pathrow .rowname").all_text_contents()) \
        == ["/blog", "/blog/hello"]
    page.get_by_role("link", name="Back one week").click()
    expect(page).to_have_url(re.compile(r"period-start=.*filter=(%2F|/)blog"))
    wait_for_widgets(page)
    expect(page.get_by_label("Filter paths")).to_have_value("/blog at:start")
    # The view is a URL: opening it again in a new tab shows the same thing.
    url = page.url
    other = page.context.new_page()
    other.goto(url)
    expect(other.get_by_label("Filter paths")).to_have_value("/blog at:start")


def test_drill_downs_and_show_more(live, watched):
    app, base, site_id = live
    page = watched().page
    log_in(page, base)
    page.goto(f"{base}/sites/{site_id}/dashboard?period=month")
    wait_for_widgets(page)
    browsers = page.locator(".widget-browsers")
    browsers.get_by_role("button", name="Firefox").click()
    expect(browsers.locator(".drill li")).to_have_count(3)
    expect(browsers.locator(".drill")).to_contain_text("Firefox 81")
    locations = page.locator(".widget-locations")
    locations.get_by_role("button", name=re.compile("Netherlands|NL")).click()
    expect(locations.locator(".drill li")).not_to_have_count(0)
    sizes = page.locator(".widget-sizes")
    sizes.get_by_role("button", name="Phones").click()
    expect(sizes.locator(".drill")).to_contain_text("400px")
    refs = page.locator(".widget-toprefs")
    refs.get_by_role("button", name="news.example/item").first.click()
    expect(refs.locator(".drill").first).to_contain_text("/")
    pages = page.locator(".widget-pages")
    pages.get_by_role("button", name="/blog", exact=True).click()
    expect(pages.locator("tr.refs")).to_contain_text("Referrers of /blog")
    expect(pages.locator("tr.refs")).to_contain_text("search.example")
    pages.get_by_role("button", name="/blog", exact=True).click()
    expect(pages.locator("tr.refs")).to_have_count(0)
    systems = page.locator(".widget-systems")
    assert systems.locator(".barrow").count() <= 6
    campaigns = page.locator(".widget-campaigns")
    campaigns.get_by_role("button", name="launch").click()
    expect(campaigns.locator(".drill li")).not_to_have_count(0)


def test_one_failing_widget_shows_its_error_while_the_rest_render(live, watched):
    app, base, site_id = live
    with app.app_context():
        db.session.execute(db.text("DROP TABLE bot_hits"))
        db.session.commit()
    w = watched()
    log_in(w.page, base)
    w.page.goto(f"{base}/sites/{site_id}/dashboard")
    states = wait_for_widgets(w.page)
    assert states == {**dict.fromkeys(widgets.WIDGETS, "ok"), "filtered": "error"}
    failed = w.page.locator(".widget-filtered")
    expect(failed.get_by_role("alert")).to_contain_text("could not be loaded")
    with app.app_context():
        db.metadata.tables["bot_hits"].create(db.engine)
    failed.get_by_role("button", name="Try again").click()
    expect(w.page.locator(".widget-filtered.state-empty, .widget-filtered.state-ok")).to_have_count(1)


def test_private_public_and_secret_dashboards(live, watched):
    app, base, site_id = live
    url = f"{base}/sites/{site_id}/dashboard"
    anonymous = watched().page
    anonymous.goto(url)
    expect(anonymous).to_have_url(re.compile(r"/login\?next="))
    with app.app_context():
        site = db.session.get(Site, site_id)
        accounts.update_site(site, settings={"public": "public"})
    anonymous.goto(url)
    assert wait_for_widgets(anonymous)["browsers"] == "ok"
    expect(anonymous.locator(".usermenu")).to_have_count(0)
    expect(anonymous.get_by_role("button", name="Save as default view")).to_have_count(0)
    with app.app_context():
        site = db.session.get(Site, site_id)
        accounts.update_site(site, settings={"public": "secret", "secret": "OpenSesame42"})
    stranger = watched().page
    stranger.goto(url)
    expect(stranger).to_have_url(re.compile(r"/login\?next="))
    friend = watched().page
    friend.goto(url + "?access-token=OpenSesame42&period=month")
    expect(friend).to_have_url(url + "?period=month")  # the secret left the address bar
    assert wait_for_widgets(friend)["summary"] == "ok"


def test_keyboard_navigation_of_the_controls(live, watched):
    app, base, site_id = live
    page = watched().page
    log_in(page, base)
    page.goto(f"{base}/sites/{site_id}/dashboard")
    wait_for_widgets(page)

    def tab_to(predicate, limit=80):
        for _ in range(limit):
            page.keyboard.press("Tab")
            if page.evaluate(predicate):
                return
        raise AssertionError(f"never focused: {predicate}")

    tab_to("document.activeElement.textContent.trim() === 'quarter'")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"period=quarter"))
    wait_for_widgets(page)
    tab_to("document.activeElement.name === 'filter'")
    page.keyboard.type("hello")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"filter=hello"))
    wait_for_widgets(page)
    expect(page.locator(".widget-pages .pathrow")).to_have_count(1)
    tab_to("document.activeElement.textContent.trim() === 'Firefox'", limit=150)
    page.keyboard.press("Enter")
    expect(page.locator(".widget-browsers .drill")).to_be_visible()
    page.keyboard.press("Shift+Tab")  # back to the controls
    tab_to("document.activeElement.getAttribute('aria-label') === 'Back one month'", limit=150)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"period-start=.*filter=hello"))


def test_theme_follows_the_setting(live, watched):
    app, base, site_id = live
    page = watched(color_scheme="dark").page
    log_in(page, base)
    page.goto(f"{base}/sites/{site_id}/dashboard")
    dark_bg = page.evaluate("getComputedStyle(document.body).backgroundColor")
    page.goto(base + "/user/settings")
    page.get_by_label("Light").check()
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    page.goto(f"{base}/sites/{site_id}/dashboard")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") != dark_bg


def test_xss_payloads_show_as_text_and_never_run(live, watched):
    app, base, site_id = live
    with app.app_context():
        ingest().push(HitIn(site_id=site_id, path=XSS_PATH, title=XSS_TITLE, referrer=XSS_REF,
                            created_at=time.time() - 120, family="gc-api", no_session=True,
                            user_agent=FIREFOX.format(80), query='utm_campaign=<b onmouseover=x>'))
        ingest().flush()
    w = watched()
    page = w.page
    log_in(page, base)
    # Yesterday and today: the hit of two minutes ago is in range also just after midnight.
    page.goto(f"{base}/sites/{site_id}/dashboard?period=1&filter=" + "%3Cscript%3E")
    wait_for_widgets(page)
    pages = page.locator(".widget-pages")
    expect(pages.get_by_role("button", name=XSS_PATH)).to_be_visible()
    expect(pages.locator(".pathtitle")).to_have_text(XSS_TITLE)
    pages.get_by_role("button", name=XSS_PATH).click()
    expect(pages.locator("tr.refs")).to_contain_text("evil.example/<script>")
    page.goto(f"{base}/sites/{site_id}/dashboard?period=1")
    wait_for_widgets(page)
    expect(page.locator(".widget-toprefs")).to_contain_text('evil.example/<script>document.title="pwned-ref"</script>')
    expect(page.locator(".widget-campaigns")).to_contain_text("<b onmouseover=x>")
    page.locator(".widget-pages svg title").first.text_content()
    page.mouse.move(10, 10)
    assert page.title().startswith("Example")
    assert "pwned" not in page.title()
    assert page.locator("script:not([src])").count() == 0
    assert page.locator(".widget img").count() == 0
    assert w.dialogs == [] and not [e for e in w.errors if "pwned" in e]


class HostPage:
    """Another origin (a loopback port of its own) whose page frames ``url``."""

    def __init__(self, url):
        body = (f'<!doctype html><title>host</title><iframe src="{url}" width="900" '
                f'height="700"></iframe>').encode()

        def wsgi(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/html")])
            return [body]
        self.server = make_server("127.0.0.1", 0, wsgi, threaded=True)
        self.origin = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.thread.join(timeout=10)
        self.server.server_close()


def test_embedded_dashboard_only_in_allowed_frames(live, watched):
    app, base, site_id = live
    embed_url = f"{base}/sites/{site_id}/dashboard?hideui=1&period=month"
    allowed, other = HostPage(embed_url), HostPage(embed_url)
    try:
        with app.app_context():
            site = db.session.get(Site, site_id)
            accounts.update_site(site, settings={"public": "public",
                                                 "allow_embed": [allowed.origin]})
        page = watched().page
        page.goto(allowed.origin + "/")
        frame = page.frame_locator("iframe")
        expect(frame.locator("section.widget-browsers.state-ok")).to_be_visible()
        expect(frame.locator(".controls")).to_have_count(0)
        expect(frame.locator(".topbar")).to_have_count(0)
        blocked = []
        page.on("console", lambda m: blocked.append(m.text) if "frame-ancestors" in m.text
                else None)
        page.goto(other.origin + "/")
        expect(page.locator("iframe")).to_be_visible()
        page.wait_for_timeout(1000)
        assert page.frames[1].locator("section.widget").count() == 0
        assert blocked, "the browser should report the frame-ancestors violation"
    finally:
        allowed.close()
        other.close()
