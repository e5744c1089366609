"""Referrers: the spam check, GoatCounter's cleaning and grouping with its `ref_scheme`, and
campaign detection from the page's query string (spec/goatcounter.md §11.2, §11.3).
"""
import re
from functools import cache
from pathlib import Path
from urllib.parse import SplitResult, quote_plus, unquote, urlsplit

from app.ingest.paths import WHITESPACE, parse_query

SCHEME_HTTP = "h"
SCHEME_GENERATED = "g"
SCHEME_CAMPAIGN = "c"
SCHEME_OTHER = "o"

# Matomo's referrer-spam list, one domain a line; absent until the build copies it in.
SPAM_LIST = Path(__file__).parent / "data" / "referrer-spam.txt"
# Used only without that file, so the spam check still works in a bare checkout.
_BUILTIN_SPAM = (
    "semalt.com", "darodar.com", "ilovevitaly.com", "buttons-for-website.com",
    "best-seo-offer.com", "free-share-buttons.com", "social-buttons.com", "4webmasters.org",
    "get-free-traffic-now.com", "simple-share-buttons.com", "hulfingtonpost.com",
    "priceg.com", "trafficmonetize.org", "free-social-buttons.com", "100dollars-seo.com",
)

_HOST_ALIASES = {
    "en.m.wikipedia.org": "en.wikipedia.org",
    "m.facebook.com": "www.facebook.com",
    "m.habr.com": "habr.com",
    "old.reddit.com": "www.reddit.com",
    "i.reddit.com": "www.reddit.com",
    "np.reddit.com": "www.reddit.com",
    "fr.reddit.com": "www.reddit.com",
}
_GROUP_HOSTS = {
    "Hacker News": (
        "news.ycombinator.com", "hn.algolia.com", "hckrnews.com", "hn.premii.com",
        "com.stefandekanski.hackernews.free", "io.github.hidroh.materialistic",
        "hackerweb.app", "quiethn.com", "hnews.xyz", "hackernewsmobile.com",
    ),
    "Email": ("mail.google.com", "com.google.android.gm", "mail.yahoo.com"),
    "RSS": ("org.fox.ttrss", "www.inoreader.com", "com.innologica.inoreader", "usepanda.com",
            "feedly.com"),
    "Google": ("com.google.android.googlequicksearchbox",),
    "www.reddit.com": (
        "com.andrewshu.android.reddit", "com.laurencedawson.reddit_sync",
        "com.laurencedawson.reddit_sync.dev", "com.laurencedawson.reddit_sync.pro",
    ),
    "www.facebook.com": ("l.facebook.com", "lm.facebook.com"),
    "Telegram Messenger": ("org.telegram.messenger",),
    "Slack Chat": ("com.slack",),
    "Baidu": ("baidu.com", "c.tieba.baidu.com", "m.baidu.com", "tieba.baidu.com", "www.baidu.com"),
}
_GROUPS = {host: name for name, hosts in _GROUP_HOSTS.items() for host in hosts}
_REDDIT_SUFFIXES = ("/top", "/new", "/search", ".compact")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # Go's url.Parse rejects these
_SOURCE_KEYS = ("utm_source", "ref", "src", "source")
_CAMPAIGN_KEYS = ("utm_campaign", "campaign")


@cache
def load_spam_domains(path: Path | str | None = None) -> frozenset[str]:
    """Lower-cased spam domains plus "localhost", read once per path. Without a path: the
    data file when present, else the small built-in list."""
    if path is None and not SPAM_LIST.exists():
        lines = _BUILTIN_SPAM
    else:
        lines = Path(path or SPAM_LIST).read_text(encoding="utf-8").splitlines()
    domains = {line.strip().lower().rstrip(".") for line in lines}
    return frozenset(d for d in domains if d and not d.startswith("#")) | {"localhost"}


def is_spam(referrer: str) -> bool:
    """True when the referrer is a URL whose host is a listed spam domain or a subdomain of one:
    the whole hit is then dropped (§11.2 step 1)."""
    host = _spam_host(referrer)
    if not host:
        return False
    domains = load_spam_domains()
    labels = host.split(".")
    return any(".".join(labels[i:]) in domains for i in range(len(labels)))


def clean_referrer(referrer: str) -> tuple[str, str]:
    """(referrer, ref_scheme) as /count stores it: scheme h, g or o (§11.2 steps 4–5).
    Campaign sources (scheme c) are decided by the caller from campaign()."""
    text = referrer.strip(WHITESPACE)
    parts = _parse(text)
    if parts is None:
        return _finish(text, SCHEME_OTHER)
    scheme = SCHEME_HTTP if parts.scheme in ("http", "https") else SCHEME_OTHER
    cleaned, generated = _clean_url(parts)
    return _finish(cleaned, SCHEME_GENERATED if generated else scheme)


def raw_referrer(referrer: str) -> tuple[str, str]:
    """(referrer, "o") as the count API stores it: as sent, only trailing "/" and surrounding
    whitespace trimmed (§11.2, QUIRK)."""
    return _finish(referrer, SCHEME_OTHER)


def campaign(query: str, event: bool) -> tuple[str | None, str | None]:
    """(source, campaign name) from a pageview's query string ("?" optional), None when absent.

    Source: first non-empty trimmed value of utm_source, ref, src, source; name: of utm_campaign,
    campaign (also trimmed: a blank name names nothing). Events never carry campaigns (§11.3).
    """
    if event or not query:
        return None, None
    first: dict[str, str] = {}
    for key, value in parse_query(query.removeprefix("?").partition("#")[0]):
        first.setdefault(key, value)
    return _first_value(first, _SOURCE_KEYS), _first_value(first, _CAMPAIGN_KEYS)


def _first_value(values: dict[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        # Decoded from %-escapes: a "%00" must not reach the database (PostgreSQL refuses NUL).
        value = values.get(key, "").strip(WHITESPACE).replace("\x00", "\ufffd")
        if value:
            return value
    return None


def _parse(text: str) -> SplitResult | None:
    """The URL parts, or None where Go's url.Parse fails (the text is then kept as is)."""
    if _CONTROL.search(text):
        return None
    try:
        return urlsplit(text)
    except ValueError:
        return None


def _spam_host(referrer: str) -> str:
    parts = _parse(referrer.strip(WHITESPACE))
    try:
        host = (parts.hostname or "") if parts else ""
    except ValueError:
        return ""
    host = host.rstrip(".")
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    return host


def _clean_url(parts: SplitResult) -> tuple[str, bool]:
    """The cleaned referrer without its scheme, and whether it is a generated group name."""
    host = parts.netloc.rpartition("@")[2]
    path = parts.path
    if host == "link.oreilly.com":
        return host, False
    host = _HOST_ALIASES.get(host, host)
    group = _group(host)
    if group:
        return group, True
    if host in ("lobste.rs", "gambe.ro") and not path.startswith("/s/"):
        return "lobste.rs", False
    if host in ("getpocket.com", "app.getpocket.com"):
        return "getpocket.com", False
    if host == "www.reddit.com":
        path = _strip_reddit_suffix(path)
    if host == "t.co" and len(path) > 1:
        # The t.co link leads back to this page; searching for it finds the tweet.
        escaped = quote_plus(unquote(path), safe="", errors="surrogatepass")
        return "twitter.com/search?q=https%3A%2F%2Ft.co" + escaped, False
    return host + path, False


def _group(host: str) -> str | None:
    if host.startswith(("www.google.", "google.")):
        return "Google"
    if "yandex." in host:
        return "Yandex"
    if "search.yahoo.com" in host:
        return "Yahoo"
    return _GROUPS.get(host.lower())


def _strip_reddit_suffix(path: str) -> str:
    for suffix in _REDDIT_SUFFIXES:
        if path.endswith(suffix):
            return path[:-len(suffix)]
    return path


def _finish(text: str, scheme: str) -> tuple[str, str]:
    text = text.strip(WHITESPACE).rstrip(WHITESPACE + "/")
    return (text, scheme) if text else ("", SCHEME_OTHER)
