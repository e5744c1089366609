"""Bot detection: GoatCounter's codes (spec/goatcounter.md §11.6), isbot@3.0.26 as Umami uses it
(spec/umami.md §6.6), prefetch headers; pure, no app or database."""
import json
import re

import pytest
from werkzeug.datastructures import Headers

from app.ingest import bots
from app.ingest.bots import detect, goatcounter_code, is_bot_code, is_prefetch, isbot
from tests.ingest.test_paths import fuzz_strings

CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")
BROWSERS = [
    CHROME,
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.2 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
    "Mozilla/5.0 (Linux; Android 13; SM-S901B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 OPR/106.0.0.0",
    "Mozilla/5.0 (Linux) Firefox/1",
]
CUBOT = ("Mozilla/5.0 (Linux; Android 9; CUBOT P30) AppleWebKit/537.36 (KHTML, like Gecko) "
         "Chrome/74.0.3729.136 Mobile Safari/537.36")
CLIENT_LIBRARIES = [
    "Go-http-client/", "HttpClient/", "HTTPClient/", "Java/", "PycURL/", "Python-urllib/",
    "Robosourcer/", "Ruby", "Wget/", "WinHttp.WinHttpRequest.5", "curl/", "python-requests/",
    "libwww-perl/",
]
KNOWN_BOTS = [
    "ADmantX", "AlexaToolbar/", "BingPreview/", "Chrome-Lighthouse", "DumpRenderTree/",
    "Faraday v", "GigablastOpenSource/", "Google Web Preview", "Google favicon", "Google-Ad",
    "Google-Site-Verification", "GoogleSecurityScanner", "Google_Analytics_Snippet_Validator",
    "HeadlessChrome/", "Netcraft Web Server Survey", "NetcraftSurveyAgent/", "Owler/",
    "PageAnalyzer/", "ScopeContentAG-HTTP-Client", "Survey/", "Synapse", "Wappalyzer",
    "WhatWeb/", "WinInet", "WordPress.com", "burpcollaborator.net/", "okhttp/", "panscient.com",
    "tracemyfile/", "wsr-agent/", "RuxitRecorder/", "RuxitSynthetic/", "TrendsmapResolver/",
    "ubermetrics-technologies.com", "zgrab/", "nbertaupete95(at)gmail.com", "Dataprovider.com",
    "wkhtmltoimage", "wkhtmltopdf", "SlimerJS",
]


def test_codes_match_the_spec():
    assert (bots.NOT_BOT, bots.NO_MATCH, bots.PREFETCH, bots.URL, bots.CLIENT_LIBRARY,
            bots.KNOWN_BOT, bots.BOTY, bots.SHORT_UA) == tuple(range(8))
    assert (bots.JS_PHANTOM, bots.JS_NIGHTMARE, bots.JS_SELENIUM, bots.JS_WEBDRIVER) == (
        150, 151, 152, 153)


@pytest.mark.parametrize("user_agent", [
    "", "curl/7.8", "GoogleBot/1.0", "Mozilla/5", "Mozilla 5.0 (Windows)", "Mozilla/5.0",
    "a b/", "ééé/ a",  # 6 characters but 9 UTF-8 bytes: Go counts bytes
])
def test_rule_1_short_or_odd(user_agent):
    assert goatcounter_code(user_agent) == bots.SHORT_UA


def test_length_counts_utf8_bytes():
    assert goatcounter_code("éééé/ a") == bots.NO_MATCH  # 7 characters, 11 bytes


@pytest.mark.parametrize("user_agent", [
    CUBOT, "Mozilla/5.0 (Linux; CUBOT_NOTE) crawler", "StudoBrowser/2.1 (+https://studo.com)",
])
def test_rule_2_known_not_bot_wins_over_later_rules(user_agent):
    assert goatcounter_code(user_agent) == bots.NOT_BOT


@pytest.mark.parametrize("user_agent", [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 curl/7 (+ftp://x)",
])
def test_rule_3_url(user_agent):
    assert goatcounter_code(user_agent) == bots.URL


@pytest.mark.parametrize("needle", CLIENT_LIBRARIES)
def test_rule_4_client_libraries(needle):
    assert goatcounter_code(f"Mozilla/5.0 {needle}1.0 bot") == bots.CLIENT_LIBRARY


@pytest.mark.parametrize("needle", KNOWN_BOTS)
def test_rule_5_known_bots(needle):
    assert goatcounter_code(f"Mozilla/5.0 ({needle} 1.0) spider") == bots.KNOWN_BOT


@pytest.mark.parametrize("user_agent", [
    "Mozilla/5.0 (compatible; MyBOT 1.0)", "Mozilla/5.0 WebCrawler/1", "Mozilla/5.0 Spider/2",
])
def test_rule_6_boty(user_agent):
    assert goatcounter_code(user_agent) == bots.BOTY


@pytest.mark.parametrize("user_agent", BROWSERS)
def test_rule_7_browsers(user_agent):
    assert goatcounter_code(user_agent) == bots.NO_MATCH


def test_rules_are_case_sensitive_where_upstream_is():
    assert goatcounter_code("Mozilla/5.0 (headlesschrome/1)") == bots.NO_MATCH
    assert goatcounter_code("Mozilla/5.0 (CURL/7)") == bots.NO_MATCH


@pytest.mark.parametrize("user_agent", [
    "curl/7.88.1", "python-requests/2.31.0", "Python-urllib/3.11", "python-httpx/0.27.0",
    "Wget/1.21.4", "axios/1.6.7", "PostmanRuntime/7.36.3", "Go-http-client/1.1",
    "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "okhttp/4.12.0", "Java/17.0.2",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.6099.0 Safari/537.36",
])
def test_isbot_drops_tools(user_agent):
    assert isbot(user_agent)


@pytest.mark.parametrize("word", [
    "bot", "crawl", "spider", "http", "client", "fetch", "monitor", "check", "scan", "preview",
    "cloud", "server", "feed", "rss", "news", "google", "search",
])
def test_isbot_drops_anything_containing(word):
    assert isbot(f"Mozilla/5.0 (compatible; Some{word.capitalize()}Thing/1.0)")
    assert isbot(f"Mozilla/5.0 (compatible; x{word.upper()}x)")


@pytest.mark.parametrize("user_agent", [*BROWSERS, "Mozilla/5.0", ""])
def test_isbot_keeps_browsers_and_empty(user_agent):
    assert not isbot(user_agent)


@pytest.mark.parametrize("kept, dropped", [
    (CUBOT, "Mozilla/5.0 (Linux; Android 9; ACUBOT P30)"),
    ("Mozilla/5.0 (Linux; Android 12) Chrome/100 Mobile Safari/537.36 channel/googleplay",
     "Mozilla/5.0 (Linux; Android 12) Chrome/100 Mobile Safari/537.36 channel googleplay"),
    ("Mozilla/5.0 (iPhone) Mobile/15E148 GoogleApp/1.0", "Mozilla/5.0 (iPhone) GoogleApps/1.0"),
    ("Mozilla/5.0 (iPhone) Version/16.0 YaSearchBrowser/23.1",
     "Mozilla/5.0 (iPhone) Version/16.0 XSearchBrowser/23.1"),
    ("Mozilla/5.0 (Linux) YandexSearch/21.1", "Mozilla/5.0 (Linux) (YandexSearch/21.1)"),
    ("Mozilla/5.0 (X11) libhttp/1.0", "Mozilla/5.0 (X11) xhttp/1.0"),
    ("Mozilla/5.0 (Java; U; en)", "Mozilla/5.0 (Java U; en)"),
    ("Mozilla/5.0 (Android) mozacfetch/1.0", "Mozilla/5.0 (Android) mozafetch/1.0"),
])
def test_isbot_look_around_adjustments(kept, dropped):
    assert not isbot(kept)
    assert isbot(dropped)


@pytest.mark.parametrize("user_agent, bot", [
    ("custom", True), ("Custom", True), ("custom\n", False), ("my custom", False),
    ("bit.ly/x", True), ("bitxly/x", True), ("bit\nly/x", False),
    ("Mozilla/5.0 daum\xa0x", True), ("Mozilla/5.0\u2003site", True), ("Mozilla/5.0 Xsite", False),
    ("Mozilla/5.0 (CHECK)", True), ("Mozilla/5.0 (chec\u212a)", False),
    ("Mozilla/5.0 (compatible;)", True), ("Mozilla/5.0 (compatible)", True),
    ("ptst/1", True), ("ptst/x", False), ("x@example", True), ("x@1", False),
])
def test_isbot_keeps_javascript_regex_semantics(user_agent, bot):
    assert isbot(user_agent) is bot


def _one_alternation():
    """isbot as the spec words it: all patterns in one case-insensitive alternation."""
    patterns = json.loads(bots.ISBOT_LIST.read_text(encoding="utf-8"))
    assert len(patterns) == 244
    joined = [bots._ISBOT_LOOKAROUND.get(p) or bots._from_js(p) for p in patterns]
    return re.compile("|".join(f"(?:{p})" for p in joined), re.IGNORECASE | re.ASCII)


def test_split_matcher_agrees_with_one_alternation():
    reference = _one_alternation()
    texts = [*fuzz_strings(), *BROWSERS, CUBOT, *CLIENT_LIBRARIES, *KNOWN_BOTS]
    texts += [json.dumps(p) for p in json.loads(bots.ISBOT_LIST.read_text(encoding="utf-8"))]
    for text in texts:
        assert isbot(text) is (bool(text) and reference.search(text) is not None), text


@pytest.mark.parametrize("user_agent, code", [
    ("curl/7.88.1", bots.SHORT_UA),
    ("", bots.SHORT_UA),
    ("Mozilla/5.0", bots.SHORT_UA),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", bots.URL),
    ("Mozilla/5.0 (compatible; UptimeMonitor 1.0)", bots.KNOWN_BOT),
    ("PostmanRuntime/7.36.3 (X11)", bots.KNOWN_BOT),
    ("Mozilla/5.0 (Linux; CUBOT_X) SomeMonitor/1", bots.KNOWN_BOT),
    (CUBOT, bots.NOT_BOT),
    (CHROME, bots.NO_MATCH),
])
def test_detect(user_agent, code):
    assert detect(user_agent) == code


@pytest.mark.parametrize("headers, prefetch", [
    ([("X-Moz", "prefetch")], True),
    ([("x-moz", "PREFETCH")], True),
    ([("X-Moz", "preview")], False),
    ([("X-Purpose", "preview")], True),
    ([("X-PURPOSE", "Prefetch")], True),
    ([("Purpose", "prefetch")], True),
    ([("purpose", " Preview ")], True),
    ([("Purpose", "prerender")], False),
    ([("Sec-Purpose", "prefetch")], False),
    ([("X-Moz", "")], False),
    ([], False),
])
def test_is_prefetch(headers, prefetch):
    assert is_prefetch(Headers(headers)) is prefetch


def test_is_prefetch_takes_any_mapping():
    assert is_prefetch({"Purpose": "prefetch"})
    assert not is_prefetch({})


@pytest.mark.parametrize("code, bot", [
    (0, False), (1, False), (2, True), (5, True), (7, True), (150, True), (153, True),
])
def test_is_bot_code(code, bot):
    assert is_bot_code(code) is bot


def test_fuzz_never_raises():
    for text in fuzz_strings():
        code = goatcounter_code(text)
        assert 0 <= code <= 7
        assert detect(text) in (code, bots.KNOWN_BOT)
        isbot(text)
        is_prefetch({"X-Moz": text, "X-Purpose": text, "Purpose": text})
