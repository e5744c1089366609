"""The tracking scripts: how /count.js (with its companion /count-counter.js), /umami.js and
/track.js are served (headers, caching, size), and what each sends from a real browser
(Debian's Chromium through Playwright), with the scripts on an Ibex live server and the page
on another origin."""
import gzip
import hashlib
import json
import os
import re
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Blueprint
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from app.extensions import db
from app.tracking import scripts
from tests.conftest import make_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHORT = "public, max-age=3600"
IMMUTABLE = "public, max-age=31536000, immutable"
MONTH = "public, max-age=2592000"
# Gzipped size budgets of the served (minified) scripts, shared/DESIGN.md; 1 KB = 1024 bytes.
BUDGETS = {"count.js": 1536, "umami.js": 1228, "track.js": 614}
SCRIPTS = [("/count.js", "count.js", SHORT), ("/count-counter.js", "count-counter.js", SHORT),
           ("/umami.js", "umami.js", MONTH), ("/track.js", "track.js", SHORT)] + [
    (f"/count.v{v}.js", "count.js", IMMUTABLE) for v in range(1, 6)]
WEBSITE = "9a6d4b8e-3c47-4d8f-9a1b-2f5e7c0d1e23"


def scripts_app(database_url, tmp_path):
    """An Ibex app with the script routes: the tracking blueprint's, or, until that wires
    scripts.register(), the same routes on a blueprint of this test's own."""
    app = make_app(database_url, tmp_path)
    if not any(rule.rule == "/count.js" for rule in app.url_map.iter_rules()):
        bp = Blueprint("tracking_scripts_test", __name__)
        scripts.register(bp)
        app.register_blueprint(bp)
    return app


@pytest.fixture
def script_client(tmp_path):
    app = scripts_app("sqlite:///" + str(tmp_path / "scripts.db"), tmp_path)
    return app.test_client()


def built(name):
    """The minified script `make static` builds, which Ibex serves."""
    path = os.path.join(ROOT, "static", "build", name)
    if not os.path.isfile(path):
        pytest.fail(f"static/build/{name} is missing; run `make static`", pytrace=False)
    with open(path, "rb") as f:
        return f.read()


# --- HTTP --------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, name, cache_control", SCRIPTS)
def test_script_headers(script_client, url, name, cache_control):
    response = script_client.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/javascript; charset=utf-8"
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Cache-Control"] == cache_control
    assert response.data == built(name)


@pytest.mark.parametrize("url, name, cache_control", SCRIPTS[:4])
def test_etag_answers_304(script_client, url, name, cache_control):
    first = script_client.get(url)
    etag = first.headers["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    assert etag.strip('"') == hashlib.sha256(first.data).hexdigest()[:32]

    again = script_client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    assert again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == cache_control

    other = script_client.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.data == first.data


def test_head_and_unknown_versions(script_client):
    head = script_client.head("/count.js")
    assert head.status_code == 200 and head.data == b""
    assert script_client.get("/count.v6.js").status_code == 404
    assert script_client.get("/count.v0.js").status_code == 404


def test_falls_back_to_the_source_without_a_build(tmp_path):
    """`flask run` without `make static` still serves the (readable) scripts."""
    static = tmp_path / "static"
    (static / "tracking").mkdir(parents=True)
    source = b"/* readable source */\n(function () {})();\n"
    (static / "tracking" / "track.js").write_bytes(source)
    app = scripts_app("sqlite:///" + str(tmp_path / "fallback.db"), tmp_path)
    app.static_folder = str(static)
    response = app.test_client().get("/track.js")
    assert response.status_code == 200 and response.data == source


@pytest.mark.parametrize("name", ["count.js", "umami.js", "track.js"])
def test_served_script_is_within_its_gzip_budget(script_client, name):
    # count.js fits because visit_count() lives in count-counter.js (no budget of its own).
    body = script_client.get("/" + name).data
    assert len(gzip.compress(body, compresslevel=9)) <= BUDGETS[name]


# --- Browser -----------------------------------------------------------------------------------

PAGES = {}  # path -> HTML, served by the page server (another origin than Ibex)


@pytest.fixture(scope="module")
def ibex(tmp_path_factory):
    """Ibex serving the scripts on http://127.0.0.1:<port>."""
    tmp_path = tmp_path_factory.mktemp("ibex-scripts")
    app = scripts_app("sqlite:///" + str(tmp_path / "browser.db"), tmp_path)
    with app.app_context():
        db.create_all()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="ibex-scripts", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
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
    """The page server: http://localhost:<port>, a different origin from Ibex's."""
    server = make_server("127.0.0.1", 0, _page_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="page-server", daemon=True)
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
    """Console messages and uncaught errors of a page. Chromium logs a failed hit ("Failed to
    load resource") as an error: Ibex's /count answers 400 here, as the test server has no
    site; those are left out, being about the server, not the script."""

    def __init__(self, page):
        self.errors, self.warnings = [], []
        page.on("console", self._message)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _message(self, msg):
        if msg.type == "error":
            if not (msg.text.startswith("Failed to load resource")
                    and "/count?" in msg.location.get("url", "")):
                self.errors.append(f"{msg.text} ({msg.location.get('url')})")
        elif msg.type == "warning":
            self.warnings.append(msg.text)


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.console = Console(page)
    yield page
    context.close()


def html(head="", body=""):
    return (f"<!doctype html><html><head><meta charset=utf-8><link rel=icon href='data:,'>"
            f"{head}</head><body>{body}</body></html>")


def query(request):
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url).query,
                                         keep_blank_values=True).items()}


def record(page, url_prefix):
    """Requests the page sends to URLs starting with url_prefix, in order."""
    sent = []
    page.on("request", lambda r: sent.append(r) if r.url.startswith(url_prefix) else None)
    return sent


def wait_for(page, sent, count):
    """Wait until `count` requests are recorded (then a little more, to catch extras)."""
    for _ in range(100):
        if len(sent) >= count:
            break
        page.wait_for_timeout(50)
    page.wait_for_timeout(150)
    return sent


def settle(page):
    """Time for a request that should not come (all servers are local)."""
    page.wait_for_timeout(500)


def screen(page):
    return page.evaluate("screen.width + 'x' + screen.height")


# count.js


def count_page(ibex, settings="{allow_local: true, endpoint: 'https://wrong.example/count'}"):
    return html(
        f"<title>Hello page</title><script>window.goatcounter = {settings}</script>"
        f"<script data-goatcounter='{ibex}/count' async src='{ibex}/count.js'></script>",
        "<h1>Hello</h1><button id=signup data-goatcounter-click=signup-click "
        "data-goatcounter-title='Sign up'>Sign <b>up</b></button>")


@pytest.mark.browser
def test_count_js_pageview_and_click_events(ibex, origin, page):
    PAGES["/blog/post"] = count_page(ibex)
    sent = record(page, ibex + "/count?")
    page.goto(origin + "/blog/post?utm_source=x", referer="https://news.example/item?id=1")
    wait_for(page, sent, 1)

    [hit] = sent
    assert hit.url.startswith(ibex + "/count?")  # the attribute wins over goatcounter.endpoint
    assert hit.method == "POST"  # navigator.sendBeacon
    params = query(hit)
    assert set(params) == {"p", "r", "t", "s", "b", "q", "rnd"}
    assert params["p"] == "/blog/post?utm_source=x"
    assert params["r"] == page.evaluate("document.referrer") != ""
    assert params["t"] == "Hello page"
    assert params["s"] == str(page.evaluate("screen.width"))
    assert params["q"] == "?utm_source=x"
    # Playwright's Chromium sets navigator.webdriver, which count.js reports as b=153.
    assert params["b"] == ("153" if page.evaluate("navigator.webdriver") else "0")
    assert re.fullmatch(r"[0-9a-z]{1,5}", params["rnd"])

    button = page.locator("#signup")
    assert button.get_attribute("data-goatcounter-bound") == "true"
    button.click()
    button.click(button="middle")  # auxclick
    wait_for(page, sent, 3)
    assert len(sent) == 3
    for event in sent[1:]:
        params = query(event)
        assert params["e"] == "true"
        assert params["p"] == "signup-click"
        assert params["t"] == "Sign up"
        assert "r" not in params  # no data-goatcounter-referrer: an empty referrer
        assert "ns" not in params

    # The JavaScript API: url() and get_query().
    url = page.evaluate("goatcounter.url({path: '/x', title: '', event: true})")
    assert url.startswith(ibex + "/count?p=%2Fx&r=") and "&e=true&" in url and "&t=" not in url
    assert page.evaluate("goatcounter.get_query('UTM_SOURCE')") == "x"
    assert page.evaluate("goatcounter.get_query('nope')") is None
    assert page.console.errors == []


@pytest.mark.browser
def test_count_js_does_not_count_on_localhost(ibex, origin, page):
    PAGES["/local"] = count_page(ibex, settings="{}")
    sent = record(page, ibex + "/count?")
    page.goto(origin + "/local")
    page.wait_for_function("typeof goatcounter.count === 'function'")
    page.locator("#signup").click()
    settle(page)
    assert sent == []
    assert page.evaluate("goatcounter.filter()") == "localhost"
    assert "goatcounter: not counting because of: localhost" in page.console.warnings
    assert page.console.errors == []


@pytest.mark.browser
def test_count_js_settings_callbacks_and_visit_counter(ibex, origin, page):
    settings = """{"allow_local": true, "path": "/from-settings", "no_events": true,
                   "endpoint": "https://ignored.example/count"}"""
    PAGES["/settings"] = html(
        "<title>T</title><script>window.goatcounter = {title: function (t) { return t + '!' }}"
        "</script>"
        f"<script data-goatcounter='{ibex}/count' data-goatcounter-settings='{settings}' "
        f"async src='{ibex}/count.js'></script>",
        "<button id=b data-goatcounter-click=x>b</button><div id=counter></div>")
    sent = record(page, ibex + "/count?")
    page.route(ibex + "/counter/**", lambda route: route.fulfill(
        status=200, content_type="image/svg+xml", body="<svg xmlns='http://www.w3.org/2000/svg'/>"))
    page.goto(origin + "/settings")
    wait_for(page, sent, 1)
    [hit] = sent
    params = query(hit)
    assert params["p"] == "/from-settings" and params["t"] == "T!"
    assert page.evaluate("goatcounter.endpoint") is None  # not a settings key
    assert page.locator("#b").get_attribute("data-goatcounter-bound") is None  # no_events

    page.evaluate("goatcounter.visit_count({append: '#counter', type: 'svg', path: '/a b',"
                  " no_branding: true, start: 'week'})")
    img = page.locator("#counter img")
    img.wait_for(state="attached")
    assert img.get_attribute("src") == f"{ibex}/counter/%2Fa%20b.svg?no_branding=1&start=week"
    assert img.get_attribute("height") == "60"
    assert page.console.errors == []


def route_counter(page, ibex):
    """Answer the visitor counter (/counter/<path>.<type>) in the browser: the test server has
    no site that allows it. Returns the requested URLs."""
    urls = []

    def handle(route, request):
        urls.append(request.url)
        if ".html?" in request.url:
            route.fulfill(status=200, content_type="text/html", body="<p>42</p>")
        else:
            route.fulfill(status=200, content_type="image/svg+xml",
                          body="<svg xmlns='http://www.w3.org/2000/svg'/>")
    page.route(ibex + "/counter/**", handle)
    return urls


@pytest.mark.browser
def test_count_js_visit_count_loads_its_companion(ibex, origin, page):
    """visit_count() loads /count-counter.js from next to count.js (here a versioned copy with
    a query string) on first use, then inserts the counter; once loaded, the companion takes
    over goatcounter.visit_count and later calls need no request."""
    canonical = origin.replace("//localhost", "//www.localhost") + "/canonical?a=1"
    PAGES["/visits"] = html(
        f"<link rel=canonical href='{canonical}'>"
        f"<script data-goatcounter='{ibex}/count' async src='{ibex}/count.v3.js?v=1'></script>",
        "<div id=one></div><div id=two></div><div id=three></div>")
    loads = record(page, ibex + "/count-counter.js")
    counters = route_counter(page, ibex)
    page.goto(origin + "/visits")
    page.wait_for_function("typeof goatcounter.visit_count === 'function'")
    settle(page)
    assert loads == [] and counters == []  # nothing until visit_count() is called

    # Two calls while the companion loads: both counters are inserted.
    page.evaluate("goatcounter.visit_count({append: '#one'});"
                  "goatcounter.visit_count({append: '#two', type: 'png', attr: {width: 10},"
                  " no_branding: false, style: 'a b', end: '2020-01-02'})")
    frame, img = page.locator("#one iframe"), page.locator("#two img")
    frame.wait_for(state="attached")
    img.wait_for(state="attached")
    # The default path is the canonical one (www. ignored), as count.js's own.
    path = "%2Fcanonical%3Fa%3D1"
    assert page.evaluate("goatcounter.get_data().p") == "/canonical?a=1"
    assert frame.get_attribute("src") == f"{ibex}/counter/{path}.html?"
    assert [frame.get_attribute(a) for a in ("width", "height", "frameborder", "scrolling")] == [
        "200", "80", "0", "no"]
    assert img.get_attribute("src") == f"{ibex}/counter/{path}.png?style=a%20b&end=2020-01-02"
    assert img.get_attribute("width") == "10" and img.get_attribute("height") is None
    assert 1 <= len(loads) <= 2 and {r.url for r in loads} == {ibex + "/count-counter.js"}
    assert page.evaluate("goatcounter.visit_count === goatcounter._visit_count")

    loaded = len(loads)
    page.evaluate("goatcounter.visit_count({append: '#three', type: 'svg', path: 'TOTAL',"
                  " start: 'month', no_branding: true})")
    img = page.locator("#three img")
    img.wait_for(state="attached")
    assert img.get_attribute("src") == f"{ibex}/counter/TOTAL.svg?no_branding=1&start=month"
    assert img.get_attribute("height") == "60"
    settle(page)
    assert len(loads) == loaded  # no new request
    assert len(counters) == 3
    assert page.console.errors == []


@pytest.mark.browser
def test_count_counter_js_on_its_own_waits_for_the_body(ibex, origin, page):
    """The companion included by the page itself, without count.js: the endpoint comes from
    goatcounter.endpoint, and a call made in <head> inserts the counter once the body exists."""
    PAGES["/standalone"] = html(
        f"<script>window.goatcounter = {{endpoint: '{ibex}/count'}}</script>"
        f"<script src='{ibex}/count-counter.js'></script>"
        "<script>goatcounter.visit_count({type: 'svg'}); window.hadBody = !!document.body</script>",
        "<p>text</p>")
    counters = route_counter(page, ibex)
    page.goto(origin + "/standalone?x=1")
    img = page.locator("body > img")
    img.wait_for(state="attached")
    assert page.evaluate("window.hadBody") is False
    assert img.get_attribute("src") == f"{ibex}/counter/%2Fstandalone%3Fx%3D1.svg?"
    assert counters == [img.get_attribute("src")]
    assert page.console.errors == []


@pytest.mark.browser
def test_count_js_visit_count_without_current_script(ibex, origin, page):
    """Browsers without document.currentScript: the companion's URL comes from the
    data-goatcounter script's src instead."""
    page.add_init_script(
        "Object.defineProperty(Document.prototype, 'currentScript', {get: function () { return null; }})")
    PAGES["/old"] = html(
        f"<script data-goatcounter='{ibex}/count' async src='{ibex}/count.v1.js'></script>",
        "<div id=c></div>")
    loads = record(page, ibex + "/count-counter.js")
    route_counter(page, ibex)
    page.goto(origin + "/old")
    page.wait_for_function("typeof goatcounter.visit_count === 'function'")
    assert page.evaluate("document.currentScript") is None
    page.evaluate("goatcounter.visit_count({append: '#c', path: '/p'})")
    page.locator("#c iframe").wait_for(state="attached")
    assert [r.url for r in loads] == [ibex + "/count-counter.js"]
    assert page.console.errors == []


@pytest.mark.browser
def test_count_js_visit_count_without_a_working_companion(ibex, origin, page):
    """A count-counter.js that does not define goatcounter._visit_count (say, a stale or wrong
    file): one error, and no loop loading it again."""
    PAGES["/broken"] = html(
        f"<script data-goatcounter='{ibex}/count' async src='{ibex}/count.js'></script>")
    loads = record(page, ibex + "/count-counter.js")
    page.route(ibex + "/count-counter.js", lambda route: route.fulfill(
        status=200, content_type="application/javascript", body="/* not the companion */"))
    page.goto(origin + "/broken")
    page.wait_for_function("typeof goatcounter.visit_count === 'function'")
    page.evaluate("goatcounter.visit_count()")
    settle(page)
    assert len(loads) == 1
    assert len(page.console.errors) == 1 and "_visit_count" in page.console.errors[0]


@pytest.mark.browser
def test_count_js_waits_until_the_page_is_visible(ibex, origin, page):
    # A background tab: hidden until the test shows it.
    page.add_init_script("""(function () {
        var hidden = true;
        Object.defineProperty(document, 'hidden', {get: function () { return hidden; }});
        Object.defineProperty(document, 'visibilityState',
            {get: function () { return hidden ? 'hidden' : 'visible'; }});
        window.showPage = function () {
            hidden = false;
            document.dispatchEvent(new Event('visibilitychange'));
        };
    })();""")
    PAGES["/background"] = count_page(ibex)
    sent = record(page, ibex + "/count?")
    page.goto(origin + "/background")
    page.wait_for_function("typeof goatcounter.count === 'function'")
    settle(page)
    assert sent == []
    page.evaluate("showPage(); showPage()")
    wait_for(page, sent, 1)
    assert len(sent) == 1 and query(sent[0])["p"] == "/background"
    assert page.console.errors == []


@pytest.mark.browser
def test_count_js_toggle_goatcounter(ibex, origin, page):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
    PAGES["/toggle"] = count_page(ibex)
    sent = record(page, ibex + "/count?")
    page.goto(origin + "/toggle#toggle-goatcounter")
    page.wait_for_function("typeof goatcounter.count === 'function'")
    settle(page)
    assert sent == []
    assert page.evaluate("localStorage.getItem('skipgc')") == "t"
    assert page.evaluate("goatcounter.filter()") == "disabled with #toggle-goatcounter"

    page.goto(origin + "/toggle?again#toggle-goatcounter")  # switches counting back on
    wait_for(page, sent, 1)
    assert page.evaluate("localStorage.getItem('skipgc')") is None
    assert len(sent) == 1 and query(sent[0])["p"] == "/toggle?again"
    assert len(dialogs) == 2 and "disabled" in dialogs[0] and "enabled" in dialogs[1]


# umami.js


def collect_route(page, url, answer="", status=200):
    """Fulfil `url` (and its CORS preflight) in the browser; returns the POST bodies sent."""
    bodies = []
    cors = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type"}

    def handle(route, request):
        if request.method == "OPTIONS":
            return route.fulfill(status=204, headers=cors)
        bodies.append((request.method, request.headers.get("content-type"), request.post_data))
        route.fulfill(status=status, headers=cors, body=answer)
    page.route(url, handle)
    return bodies


def umami_json(type_, page, **extra):
    """The exact JSON text umami.js sends (JSON.stringify: compact, keys in spec order)."""
    payload = {"website": WEBSITE, "hostname": "localhost", "screen": screen(page),
               "language": page.evaluate("navigator.language"), "cache": extra.pop("cache", None)}
    payload.update(extra)
    return json.dumps({"type": type_, "payload": payload}, separators=(",", ":"))


@pytest.mark.browser
def test_umami_js(ibex, origin, page):
    PAGES["/app"] = html("<title>App</title>", (
        "<button class='btn umami--click--signup-button'>Sign up</button>"
        "<a class='umami--click--a--b' href='#'>x</a>"
        f"<script async defer data-website-id='{WEBSITE}' data-cache=true "
        f"src='{ibex}/umami.js'></script>"))
    bodies = collect_route(page, ibex + "/api/collect", answer="cache-token-1")
    page.goto(origin + "/app?x=1")
    wait_for(page, bodies, 1)

    assert bodies == [("POST", "application/json", umami_json(
        "pageview", page, url="/app?x=1", referrer=""))]
    assert page.evaluate("sessionStorage.getItem('umami.cache')") == "cache-token-1"

    page.locator(".btn").click()
    wait_for(page, bodies, 2)
    assert bodies[1][2] == umami_json("event", page, cache="cache-token-1", event_type="click",
                                      event_value="signup-button", url="/app?x=1")
    page.locator("a").click()
    wait_for(page, bodies, 3)
    assert json.loads(bodies[2][2])["payload"]["event_value"] == "a"

    page.evaluate("history.pushState({}, '', '/app/next')")
    wait_for(page, bodies, 4)
    assert bodies[3][2] == umami_json("pageview", page, cache="cache-token-1",
                                      url="/app/next", referrer="/app?x=1")
    page.evaluate(f"history.replaceState({{}}, '', '{origin}/app/abs?y=2#top')")
    page.evaluate("history.replaceState({}, '')")  # no URL: ignored
    page.evaluate("history.pushState({}, '', '/app/abs?y=2#top')")  # same URL: not a view
    wait_for(page, bodies, 5)
    assert len(bodies) == 5
    assert json.loads(bodies[4][2])["payload"] == json.loads(umami_json(
        "pageview", page, cache="cache-token-1", url="/app/abs?y=2#top",
        referrer="/app/next"))["payload"]

    page.evaluate("umami.trackEvent('newsletter')")
    page.evaluate("umami('plain')")
    page.evaluate("umami.trackView('/virtual', 'https://ref.example/')")
    wait_for(page, bodies, 8)
    assert [json.loads(b[2]) for b in bodies[5:]] == [
        {"type": "event", "payload": json.loads(umami_json(
            "event", page, cache="cache-token-1", event_type="custom",
            event_value="newsletter", url="/app/abs?y=2#top"))["payload"]},
        {"type": "event", "payload": json.loads(umami_json(
            "event", page, cache="cache-token-1", event_type="custom",
            event_value="plain", url="/app/abs?y=2#top"))["payload"]},
        {"type": "pageview", "payload": json.loads(umami_json(
            "pageview", page, cache="cache-token-1", url="/virtual",
            referrer="https://ref.example/"))["payload"]},
    ]
    assert page.console.errors == []


@pytest.mark.browser
def test_umami_js_disabled(ibex, origin, page):
    """data-domains not matching the page, Do-Not-Track with data-do-not-track (any value), and
    localStorage umami.disabled: nothing is sent, neither automatically nor through
    window.umami."""
    PAGES["/off"] = html(body=(
        f"<script data-website-id='{WEBSITE}' data-domains='example.org, www.example.org' "
        f"src='{ibex}/umami.js'></script>"))
    bodies = collect_route(page, ibex + "/api/collect")
    page.goto(origin + "/off")
    page.evaluate("umami.trackEvent('x')")
    settle(page)
    assert bodies == []

    page.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: function () { return '1'; }})")
    PAGES["/dnt"] = html(body=(
        f"<script data-website-id='{WEBSITE}' data-do-not-track=false src='{ibex}/umami.js'></script>"))
    page.goto(origin + "/dnt")
    page.evaluate("umami.trackEvent('x')")
    settle(page)
    assert bodies == []

    PAGES["/on"] = html(body=f"<script data-website-id='{WEBSITE}' src='{ibex}/umami.js'></script>")
    page.evaluate("localStorage.setItem('umami.disabled', '1')")
    page.goto(origin + "/on")
    page.evaluate("umami.trackView()")
    settle(page)
    assert bodies == []
    assert page.console.errors == []


@pytest.mark.browser
def test_umami_js_host_url_without_auto_track(ibex, origin, page):
    PAGES["/manual"] = html(body=(
        f"<button class='umami--click--never'>x</button>"
        f"<script data-website-id='{WEBSITE}' data-auto-track=false "
        f"data-host-url='{ibex}/elsewhere/' src='{ibex}/umami.js'></script>"))
    bodies = collect_route(page, ibex + "/elsewhere/api/collect")
    page.goto(origin + "/manual?a=1")
    page.locator("button").click()
    page.evaluate("history.pushState({}, '', '/manual/2')")
    settle(page)
    assert bodies == []  # no automatic pageview, CSS-class events or history tracking
    page.evaluate("umami.trackView()")
    wait_for(page, bodies, 1)
    assert [b[2] for b in bodies] == [umami_json("pageview", page, url="/manual?a=1", referrer="")]
    assert page.console.errors == []


# track.js


@pytest.mark.browser
def test_track_js(ibex, origin, page):
    PAGES["/spa"] = html(f"<script src='{ibex}/track.js' defer></script>")
    bodies = collect_route(page, ibex + "/collect", status=204)
    page.goto(origin + "/spa?tab=1", referer="https://news.example/")
    wait_for(page, bodies, 1)
    referrer = page.evaluate("document.referrer")
    assert referrer
    expected = {"path": "/spa?tab=1", "referrer": referrer, "screen": screen(page)}
    assert bodies == [("POST", "application/json", json.dumps(expected, separators=(",", ":")))]

    page.evaluate("history.pushState({}, '', '/spa/two')")
    page.evaluate("history.replaceState({}, '', '/spa/two#section')")  # same path: no view
    page.evaluate("history.pushState({}, '', '/spa/three?x=1')")
    wait_for(page, bodies, 3)
    page.go_back()  # popstate: /spa/two#section
    page.go_back()  # popstate: /spa?tab=1
    wait_for(page, bodies, 5)
    assert [json.loads(b[2])["path"] for b in bodies] == [
        "/spa?tab=1", "/spa/two", "/spa/three?x=1", "/spa/two", "/spa?tab=1"]
    assert all(json.loads(b[2])["referrer"] == referrer for b in bodies)
    assert page.console.errors == []
