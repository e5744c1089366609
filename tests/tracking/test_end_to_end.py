"""End to end: each tracking script (count.js, umami.js, track.js) runs in a real browser
(Debian's Chromium through Playwright) on a page of another origin (http://localhost:<port>),
sends its hits to a live Ibex server (http://127.0.0.1:<port>), and the hits land in the
database with the right values. The embedded persister thread is off in tests: each test waits
until Ibex has buffered the hits it expects, then flushes the buffer itself."""
import threading
import time

import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy import func, select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from app import accounts
from app.extensions import db
from app.models import (BotHit, Browser, Campaign, Hit, HitCount, Path, Ref, System, Url, Visit,
                        VisitorSession)
from tests.conftest import make_app

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# A normal desktop Chrome on Windows 10: Playwright's default HeadlessChrome User-Agent is a bot
# by design (isbot, GoatCounter's rules).
CHROME_UA = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
             "Chrome/124.0.0.0 Safari/537.36")
SCREEN = {"width": 1920, "height": 1080}
VIEWPORT = {"width": 1280, "height": 720}
# Playwright's Chromium sets navigator.webdriver, which count.js reports as b=153 (a bot).
NOT_WEBDRIVER = "Object.defineProperty(navigator, 'webdriver', {get: () => false})"
NEWS = "http://news.example/item?id=1"  # a third origin, fulfilled by Playwright
ANONYMISED_IP = "127.0.0.0"  # 127.0.0.1 with the default IP mode (IPv4 /24)

PAGES = {}  # path -> HTML, served by the page server


# --- Servers and browser -----------------------------------------------------------------------

class Ibex:
    """A live Ibex on its own SQLite database, with the site "localhost" (the page origin's
    host) and a decoy site, so that the site must be resolved from the request (Origin/Referer
    or the Umami website uuid), not from "the only site"."""

    def __init__(self, app, url):
        self.app, self.url = app, url
        with app.app_context():
            site = accounts.create_site("localhost", name="Local")
            accounts.create_site("example.com", name="Decoy")
            self.site_id, self.site_uuid = site.id, site.uuid
            db.session.remove()

    @property
    def ingest(self):
        return self.app.extensions["ingest"]

    def wait_for(self, page, count, timeout=10.0):
        """Wait until `count` hits are buffered (pumping Playwright's events meanwhile)."""
        deadline = time.monotonic() + timeout
        while self.ingest.buffer.backlog() < count:
            if time.monotonic() > deadline:
                pytest.fail(f"Ibex buffered {self.ingest.buffer.backlog()} hits, expected "
                            f"{count}; console errors: {page.console.errors}", pytrace=False)
            page.wait_for_timeout(20)

    def flush(self, page, count):
        """Wait for `count` hits, allow a moment for an unexpected extra one, then persist the
        buffer synchronously. Returns the number of hits handled."""
        self.wait_for(page, count)
        page.wait_for_timeout(200)
        assert self.ingest.buffer.backlog() == count
        return self.ingest.flush()


@pytest.fixture
def ibex(tmp_path):
    app = make_app("sqlite:///" + str(tmp_path / "e2e.db"), tmp_path)
    with app.app_context():
        db.create_all()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="ibex-e2e", daemon=True)
    thread.start()
    try:
        yield Ibex(app, f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@Request.application
def _page_app(request):
    html = PAGES.get(request.path)
    if html is None:
        return Response("not found", status=404)
    return Response(html, content_type="text/html; charset=utf-8")


@pytest.fixture(scope="module")
def origin():
    """The page server: http://localhost:<port>, another origin than Ibex's."""
    server = make_server("127.0.0.1", 0, _page_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-pages", daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Console:
    """Console errors and uncaught exceptions of a page."""

    def __init__(self, page):
        self.errors = []
        page.on("console", lambda msg: self.errors.append(
            f"{msg.text} ({msg.location.get('url')})") if msg.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))


@pytest.fixture
def new_page(browser):
    """new_page(user_agent=CHROME_UA, webdriver=False): a page in a fresh browser context with
    a 1920x1080 screen. user_agent=None keeps Chromium's own (HeadlessChrome) User-Agent;
    webdriver=True leaves navigator.webdriver as Playwright sets it (true)."""
    contexts = []

    def make(user_agent=CHROME_UA, webdriver=False):
        options = {"viewport": VIEWPORT, "screen": SCREEN, "locale": "en-US"}
        if user_agent:
            options["user_agent"] = user_agent
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        if not webdriver:
            page.add_init_script(NOT_WEBDRIVER)
        page.set_default_timeout(10_000)
        page.console = Console(page)
        return page
    yield make
    for context in contexts:
        context.close()


def html(head="", body=""):
    return (f"<!doctype html><html><head><meta charset=utf-8><link rel=icon href='data:,'>"
            f"{head}</head><body>{body}</body></html>")


def follow_link(page, start, target):
    """Open `start` (a page on a third origin, fulfilled here) and click its link to `target`,
    so that the target page has a real document.referrer."""
    page.route(lambda url: url.startswith("http://news.example/"), lambda route: route.fulfill(
        content_type="text/html; charset=utf-8",
        body=html("<title>News</title>", f"<a id=go href='{target}'>Read the post</a>")))
    page.goto(start)
    with page.expect_navigation(url=target):
        page.locator("#go").click()


def one(statement):
    return db.session.scalars(statement).one()


def all_hits():
    return db.session.scalars(select(Hit).order_by(Hit.id)).all()


def count_rows(model):
    return db.session.scalar(select(func.count()).select_from(model))


def path_of(hit):
    return db.session.get(Path, hit.path_id)


def url_of(url_id):
    return db.session.get(Url, url_id).url if url_id else None


def pageviews_by_path():
    rows = db.session.execute(select(Path.path, func.sum(HitCount.pageviews),
                                     func.sum(HitCount.visitors))
                              .join(Path, Path.id == HitCount.path_id).group_by(Path.path))
    return {path: (pageviews, visitors) for path, pageviews, visitors in rows}


# --- count.js ----------------------------------------------------------------------------------

def count_page(ibex):
    return html(
        "<title>Hello page</title><script>window.goatcounter = {allow_local: true}</script>"
        f"<script data-goatcounter='{ibex.url}/count' async src='{ibex.url}/count.js'></script>",
        "<h1>Hello</h1><button id=signup data-goatcounter-click=signup-click "
        "data-goatcounter-title='Sign up'>Sign <b>up</b></button>")


def test_count_js_pageviews_and_click_event_are_stored(ibex, origin, new_page):
    page = new_page()
    PAGES["/blog/post"] = count_page(ibex)
    follow_link(page, NEWS, origin + "/blog/post?utm_campaign=launch&utm_source=newsletter")
    assert page.evaluate("navigator.webdriver") is False
    referrer = page.evaluate("document.referrer")
    assert referrer == "http://news.example/"  # cross-origin: the origin only
    ibex.wait_for(page, 1)
    page.locator("#signup").click()
    ibex.wait_for(page, 2)
    page.reload()  # the same page again: not a first visit
    assert ibex.flush(page, 3) == 3

    with ibex.app.app_context():
        pageview, event, again = hits = all_hits()
        assert [hit.site_id for hit in hits] == [ibex.site_id] * 3

        path = path_of(pageview)  # utm_* parameters are removed from the path
        assert (path.path, path.title, path.event) == ("/blog/post", "Hello page", False)
        assert again.path_id == pageview.path_id
        click = path_of(event)
        assert (click.path, click.title, click.event) == ("signup-click", "Sign up", True)
        assert count_rows(Path) == 2

        # The campaign source replaces the referrer (scheme c); the referrer as sent is kept.
        ref = db.session.get(Ref, pageview.ref_id)
        assert (ref.ref, ref.ref_scheme) == ("newsletter", "c")
        assert again.ref_id == pageview.ref_id
        assert url_of(pageview.referrer_url_id) == referrer
        campaign = db.session.get(Campaign, pageview.campaign_id)
        assert (campaign.name, campaign.site_id) == ("launch", ibex.site_id)
        assert again.campaign_id == pageview.campaign_id
        # An event has no referrer (no data-goatcounter-referrer) and never a campaign.
        ref = db.session.get(Ref, event.ref_id)
        assert (ref.ref, ref.ref_scheme) == ("", "o")
        assert event.campaign_id is None and event.referrer_url_id is None

        for hit in hits:
            browser = db.session.get(Browser, hit.browser_id)
            system = db.session.get(System, hit.system_id)
            assert (browser.name, browser.version) == ("Chrome", "124")
            assert (system.name, system.version) == ("Windows", "10")
            assert hit.width == SCREEN["width"] == page.evaluate("screen.width")
            assert hit.ip == ANONYMISED_IP
            assert hit.event_type is None

        assert [hit.first_visit for hit in hits] == [True, True, False]
        assert pageview.session_id is not None
        assert {hit.session_id for hit in hits} == {pageview.session_id}
        assert count_rows(VisitorSession) == 1
        assert pageviews_by_path() == {"/blog/post": (2, 1), "signup-click": (1, 1)}
        assert count_rows(BotHit) == 0
    assert page.console.errors == []


def test_count_js_from_a_webdriver_browser_goes_to_the_bot_log(ibex, origin, new_page):
    page = new_page(webdriver=True)
    PAGES["/bot"] = count_page(ibex)
    page.goto(origin + "/bot")
    assert page.evaluate("navigator.webdriver") is True  # count.js sends b=153
    assert ibex.flush(page, 1) == 1

    with ibex.app.app_context():
        assert all_hits() == []
        assert count_rows(Path) == 0 and count_rows(HitCount) == 0
        bot = one(select(BotHit))
        assert (bot.site_id, bot.reason, bot.bot, bot.path, bot.user_agent) == (
            ibex.site_id, "bot", 153, "/bot", CHROME_UA)
    assert page.console.errors == []


# --- umami.js ----------------------------------------------------------------------------------

def umami_page(ibex):
    return html("<title>App</title>", (
        "<button class='btn umami--click--signup-button'>Sign up</button>"
        f"<script async defer data-website-id='{ibex.site_uuid}' "
        f"src='{ibex.url}/umami.js'></script>"))


def test_umami_js_pageviews_and_click_event_are_stored(ibex, origin, new_page):
    page = new_page()
    PAGES["/app"] = umami_page(ibex)
    page.goto(origin + "/app?tab=1")
    ibex.wait_for(page, 1)
    page.locator(".btn").click()
    ibex.wait_for(page, 2)
    page.evaluate("history.pushState({}, '', '/app/next')")
    assert ibex.flush(page, 3) == 3

    with ibex.app.app_context():
        first, click, second = hits = all_hits()
        assert [hit.site_id for hit in hits] == [ibex.site_id] * 3
        assert [(path_of(hit).path, path_of(hit).event, hit.event_type) for hit in hits] == [
            ("/app?tab=1", False, None), ("signup-button", True, "click"),
            ("/app/next", False, None)]
        assert [url_of(hit.url_id) for hit in hits] == ["/app?tab=1", "/app?tab=1", "/app/next"]
        # The first view has no referrer; after pushState the referrer is the previous URL.
        assert [url_of(hit.referrer_url_id) for hit in hits] == [None, None, "/app?tab=1"]
        assert all(hit.width == SCREEN["width"] for hit in hits)

        assert first.session_id is not None
        assert {hit.session_id for hit in hits} == {first.session_id}
        session = one(select(VisitorSession))
        assert session.id == first.session_id and session.site_id == ibex.site_id
        assert (session.umami_browser, session.umami_os, session.device) == (
            "chrome", "Windows 10", "desktop")
        assert (session.screen, session.hostname) == ("1920x1080", "localhost")
        assert session.language is None  # the site does not collect Language (flag 64)
        browser = db.session.get(Browser, session.browser_id)
        assert (browser.name, browser.version) == ("Chrome", "124")

        assert pageviews_by_path() == {"/app?tab=1": (1, 1), "signup-button": (1, 1),
                                       "/app/next": (1, 1)}
        # Visits count the session's pageviews, not its events.
        assert db.session.scalar(select(func.sum(Visit.pageviews))) == 2
        assert count_rows(BotHit) == 0
    assert page.console.errors == []


def test_umami_js_from_headless_chrome_is_dropped_as_a_bot(ibex, origin, new_page):
    page = new_page(user_agent=None)
    PAGES["/headless"] = umami_page(ibex)

    def is_collect(response):
        return response.url == ibex.url + "/api/collect" and response.request.method == "POST"
    with page.expect_response(is_collect) as view:
        page.goto(origin + "/headless")
    assert "HeadlessChrome/" in page.evaluate("navigator.userAgent")
    with page.expect_response(is_collect) as click:
        page.locator(".btn").click()
    for response in (view.value, click.value):
        assert (response.status, response.text()) == (200, "{}")  # Umami's answer to a bot

    assert ibex.flush(page, 0) == 0  # dropped on the hot path: nothing buffered
    with ibex.app.app_context():
        assert all_hits() == []
        assert count_rows(Path) == 0 and count_rows(VisitorSession) == 0
    assert page.console.errors == []


# --- track.js ----------------------------------------------------------------------------------

def test_track_js_pageviews_are_stored(ibex, origin, new_page):
    page = new_page()
    PAGES["/spa"] = html(f"<title>SPA</title><script src='{ibex.url}/track.js' defer></script>")
    follow_link(page, NEWS, origin + "/spa?tab=1")
    referrer = page.evaluate("document.referrer")
    assert referrer == "http://news.example/"
    ibex.wait_for(page, 1)
    page.evaluate("history.pushState({}, '', '/spa/two')")
    assert ibex.flush(page, 2) == 2

    with ibex.app.app_context():
        first, second = hits = all_hits()
        assert [hit.site_id for hit in hits] == [ibex.site_id] * 2
        assert [path_of(hit).path for hit in hits] == ["/spa?tab=1", "/spa/two"]
        assert [url_of(hit.url_id) for hit in hits] == ["/spa?tab=1", "/spa/two"]
        for hit in hits:
            assert not path_of(hit).event and hit.event_type is None
            assert hit.width == SCREEN["width"]  # from screen "1920x1080"
            browser = db.session.get(Browser, hit.browser_id)
            system = db.session.get(System, hit.system_id)
            assert (browser.name, browser.version) == ("Chrome", "124")
            assert (system.name, system.version) == ("Windows", "10")
            assert hit.ip == ANONYMISED_IP
            assert url_of(hit.referrer_url_id) == referrer
            ref = db.session.get(Ref, hit.ref_id)
            assert (ref.ref, ref.ref_scheme) == ("news.example", "h")
            assert hit.first_visit
        assert first.session_id is not None and second.session_id == first.session_id
        session = one(select(VisitorSession))
        assert session.screen == "1920x1080"
        assert pageviews_by_path() == {"/spa?tab=1": (1, 1), "/spa/two": (1, 1)}
        assert count_rows(BotHit) == 0
    assert page.console.errors == []
