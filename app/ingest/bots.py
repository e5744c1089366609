"""Bot detection: GoatCounter's User-Agent rules and bot codes (spec/goatcounter.md §11.6), the
isbot@3.0.26 pattern list Umami uses (spec/umami.md §6.6), and prefetch headers.

GoatCounter's cloud-provider IP-range codes (8–17) are in app/ingest/cloud.py.
"""
import json
import re
import string
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from pathlib import Path
from typing import NamedTuple

NOT_BOT = 0          # a rule says this UA is a browser
NO_MATCH = 1         # no rule matched: also not a bot
PREFETCH = 2
URL = 3
CLIENT_LIBRARY = 4
KNOWN_BOT = 5
BOTY = 6
SHORT_UA = 7
JS_PHANTOM = 150     # 150–153 are sent by count.js, never detected here
JS_NIGHTMARE = 151
JS_SELENIUM = 152
JS_WEBDRIVER = 153

ISBOT_LIST = Path(__file__).parent / "data" / "isbot-list.json"


def _any_of(*needles: str) -> re.Pattern:
    return re.compile("|".join(map(re.escape, needles)))


_BROWSER_DEVICES = _any_of("CUBOT_", "CUBOT ", "StudoBrowser/")
_CLIENT_LIBRARIES = _any_of(
    "Go-http-client/", "HttpClient/", "HTTPClient/", "Java/", "PycURL/", "Python-urllib/",
    "Robosourcer/", "Ruby", "Wget/", "WinHttp.WinHttpRequest.5", "curl/", "python-requests/",
    "libwww-perl/",
)
_KNOWN_BOTS = _any_of(
    "ADmantX", "AlexaToolbar/", "BingPreview/", "Chrome-Lighthouse", "DumpRenderTree/",
    "Faraday v", "GigablastOpenSource/", "Google Web Preview", "Google favicon", "Google-Ad",
    "Google-Site-Verification", "GoogleSecurityScanner", "Google_Analytics_Snippet_Validator",
    "HeadlessChrome/", "Netcraft Web Server Survey", "NetcraftSurveyAgent/", "Owler/",
    "PageAnalyzer/", "ScopeContentAG-HTTP-Client", "Survey/", "Synapse", "Wappalyzer",
    "WhatWeb/", "WinInet", "WordPress.com", "burpcollaborator.net/", "okhttp/", "panscient.com",
    "tracemyfile/", "wsr-agent/", "RuxitRecorder/", "RuxitSynthetic/", "TrendsmapResolver/",
    "ubermetrics-technologies.com", "zgrab/", "nbertaupete95(at)gmail.com", "Dataprovider.com",
    "wkhtmltoimage", "wkhtmltopdf", "SlimerJS",
)
_BOTY = _any_of("bot", "crawler", "spider")

# isbot 3.0.26 swaps six entries for look-around versions where the engine has look-behind.
# Python's look-behind must be fixed-width, so "(?<! (ya|yandex))search" becomes two.
_ISBOT_LOOKAROUND = {
    "bot": r"(?<! cu)bot",
    "google": r"(?<! channel/)google(?!app/)",
    "search": r"(?<! ya)(?<! yandex)search",
    "http": r"(?<!lib)http",
    "java": r"java(?!;)",
    "fetch": r"(?<!mozac)fetch",
}
# JavaScript regex syntax that means something else in Python (\d is ASCII in both under
# re.ASCII, which also keeps case folding to ASCII letters, as JS does without the u flag).
_JS_SPACE = r"\t\n\x0b\x0c\r \xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
_JS_TRANSLATIONS = {r"\s": f"[{_JS_SPACE}]", ".": r"[^\n\r\u2028\u2029]", "$": r"\Z"}
_JS_SYNTAX = re.compile(r"\[(?:\\.|[^\]\\])*\]|\\.|[.$]", re.DOTALL)
_JS_ESCAPE = re.compile(r"\\.", re.DOTALL)
_JS_LITERAL = re.compile(r"(?:[^\\.^$*+?{}\[\]|()]|\\[^\w\s])+")  # plain or escaped punctuation
_JS_UNESCAPE = re.compile(r"\\(.)")
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

_PREFETCH_HEADERS = (
    ("X-Moz", frozenset({"prefetch"})),
    ("X-Purpose", frozenset({"prefetch", "preview"})),
    ("Purpose", frozenset({"prefetch", "preview"})),
)


def goatcounter_code(user_agent: str) -> int:
    """GoatCounter's User-Agent rules, first match wins (§11.6 rules 1–7)."""
    if _is_odd(user_agent):
        return SHORT_UA
    if _BROWSER_DEVICES.search(user_agent):
        return NOT_BOT
    if "://" in user_agent:
        return URL
    if _CLIENT_LIBRARIES.search(user_agent):
        return CLIENT_LIBRARY
    if _KNOWN_BOTS.search(user_agent):
        return KNOWN_BOT
    if _BOTY.search(user_agent.lower()):
        return BOTY
    return NO_MATCH


@lru_cache(maxsize=4096)  # traffic repeats a few hundred User-Agents; a miss costs ~30 µs
def isbot(user_agent: str) -> bool:
    """Whether npm isbot@3.0.26 calls this User-Agent a bot (Umami's rule); empty → False."""
    if not user_agent:
        return False
    matcher = _isbot_matcher()
    if matcher.anchored.match(user_agent):
        return True
    lowered = _ascii_lower(user_agent)
    return (any(literal in lowered for literal in matcher.literals)
            or matcher.others.search(user_agent) is not None)


def detect(user_agent: str) -> int:
    """The bot code of a User-Agent, for hits of every API family.

    One detector so that a hit is a bot hit or not whichever family recorded it: GoatCounter's
    specific codes (≥ 2) win, since they are what the bot log shows; isbot's wider list then
    catches what GoatCounter would count (e.g. "PostmanRuntime/7.36 (x)", "Mozilla/5.0 (compatible;
    UptimeMonitor)") as a known bot; otherwise GoatCounter's 0 or 1 (not a bot).
    """
    code = goatcounter_code(user_agent)
    if code >= PREFETCH:
        return code
    return KNOWN_BOT if isbot(user_agent) else code


def is_prefetch(headers: Mapping[str, str]) -> bool:
    """A browser prefetch or link preview (code 2): X-Moz: prefetch, X-Purpose or Purpose:
    prefetch|preview, values case-insensitive. `headers` needs a case-insensitive .get
    (werkzeug's Headers)."""
    return any((headers.get(name) or "").strip().lower() in values
               for name, values in _PREFETCH_HEADERS)


def is_bot_code(code: int) -> bool:
    """Whether a detected code (detect(), or PREFETCH) marks a bot: ≥ 2; 0 and 1 are "not a bot".

    Note: a hit's *final* bot value is a bot when > 0, because the count API lets clients send
    `bot: 1` themselves (§11.6); apply that rule to client-supplied values, not this one.
    """
    return code >= PREFETCH


def _is_odd(user_agent: str) -> bool:
    # Go's len() counts UTF-8 bytes, and upstream compares that with 10.
    size = len(user_agent.encode("utf-8", "surrogatepass"))
    return size < 10 or " " not in user_agent or "/" not in user_agent


class _IsbotMatcher(NamedTuple):
    """isbot's list split three ways, because one 244-branch alternation costs ~250 µs a UA."""
    anchored: re.Pattern       # "^…" patterns, tried once at the start
    literals: tuple[str, ...]  # plain substrings, lower-cased
    others: re.Pattern         # classes and look-arounds, searched everywhere


@cache
def _isbot_matcher() -> _IsbotMatcher:
    """Built on first use from the list `make static` copies out of node_modules/isbot."""
    patterns = [p for p in json.loads(ISBOT_LIST.read_text(encoding="utf-8"))
                if p not in _ISBOT_LOOKAROUND]
    anchored = [p for p in patterns if p.startswith("^")]
    literals = [p for p in patterns if not p.startswith("^") and _JS_LITERAL.fullmatch(p)]
    others = [p for p in patterns if p not in anchored and p not in literals]
    return _IsbotMatcher(
        anchored=_alternation(map(_from_js, anchored)),
        literals=tuple(_JS_UNESCAPE.sub(r"\1", p).lower() for p in literals),
        others=_alternation([*map(_from_js, others), *_ISBOT_LOOKAROUND.values()]),
    )


def _alternation(patterns: Iterable[str]) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE | re.ASCII)


def _ascii_lower(text: str) -> str:
    # JS's case-insensitive matching folds only ASCII letters here; str.lower() would also
    # turn e.g. the Kelvin sign into "k".
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def _from_js(pattern: str) -> str:
    """Translate the JS-only meanings of \\s, "." and "$" (also \\s inside [...])."""
    return _JS_SYNTAX.sub(_translate_js_token, pattern)


def _translate_js_token(match: re.Match) -> str:
    token = match.group()
    if token.startswith("["):
        return _JS_ESCAPE.sub(lambda e: _JS_SPACE if e.group() == r"\s" else e.group(), token)
    return _JS_TRANSLATIONS.get(token, token)
