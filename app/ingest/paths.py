"""Pageview paths and event names as GoatCounter stores them (spec/goatcounter.md §11.1).

Pure functions of the sent text; also the query-string parsing that campaign detection shares.
"""
import hashlib
import re
from urllib.parse import quote_plus, unquote_plus, urlsplit

# What upstream's Go strings.TrimSpace removes: Unicode White_Space. Python's str.strip() would
# also remove the ASCII separators \x1c-\x1f, which Go keeps.
WHITESPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
NO_EVENT_NAME = "(no event name)"

_OFFLINE_READER = "/storage/emulated/0/Android/data/jonas.tool.saveForOffline/files/"
_INTERNET_ARCHIVE = re.compile(r"/web/20\d*/(.*)", re.DOTALL)
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_TRACKING_PARAMS = frozenset({
    "fbclid", "ref", "mc_cid", "mc_eid", "gclid", "nsukey", "isappinstalled",
    "__cf_chl_captcha_tk__", "__cf_chl_jschl_tk__", "continueFlag",
    "_x_tr_sl", "_x_tr_hl", "_x_tr_pto", "_x_tr_tl",
})
_MESSAGE_SHARES = frozenset({"singlemessage", "groupmessage"})  # WeChat's `from` values
_DROPPED_PREFIX = "/servlet/redirect.srv/"


def normalise_path(path: str, event: bool) -> str | None:
    """The stored path of a hit, or None when a pageview must be rejected or silently dropped.

    Events lose only surrounding whitespace and leading slashes, and are never empty.
    Pageview paths always start with exactly one "/" and never end with one.
    """
    path = path.strip(WHITESPACE)
    if event:
        return path.lstrip("/") or NO_EVENT_NAME
    if not path:
        return None
    cleaned = _clean_query(_rewrite(_slashes(path)))
    if _is_dropped(path) or _is_dropped(cleaned):
        return None
    return cleaned


def path_key(path: str) -> str:
    """The key paths are unique by within a site: /Foo and /foo are one path."""
    return bounded_key(path.lower())


def bounded_key(key: str) -> str:
    """``key`` itself, or for very long text a prefix plus its SHA-256: a unique index entry
    then always fits PostgreSQL's limit (about 2.7 KB), whatever the text's length."""
    if len(key) <= 500 and len(key.encode("utf-8", "surrogatepass")) <= 1500:
        return key
    return key[:200] + "#" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def parse_query(query: str) -> list[tuple[str, str]]:
    """(key, value) pairs of a query string without its "?", in order, decoded as Go's
    url.ParseQuery does: "+" is a space, and a pair with ";" or a bad %-escape is skipped."""
    pairs = []
    for part in query.split("&"):
        if not part or ";" in part:
            continue
        key, _, value = part.partition("=")
        if _BAD_ESCAPE.search(key) or _BAD_ESCAPE.search(value):
            continue
        pairs.append((unquote_plus(key), unquote_plus(value)))
    return pairs


def encode_query(pairs: list[tuple[str, str]]) -> str:
    """Standard form encoding sorted by key (values of one key keep their order), as Go's
    url.Values.Encode; lone surrogates are encoded rather than raising."""
    ordered = sorted(pairs, key=lambda pair: pair[0])
    return "&".join(f"{_escape(key)}={_escape(value)}" for key, value in ordered)


def _escape(text: str) -> str:
    return quote_plus(text, safe="", errors="surrogatepass")


def _slashes(path: str) -> str:
    return "/" + path.strip("/")


def _rewrite(path: str) -> str:
    """Undo the offline-reader and Internet Archive wrappers around a real path."""
    if path.startswith(_OFFLINE_READER):
        # Keep what follows the reader's <dir> component.
        path = _slashes(path[len(_OFFLINE_READER):].partition("/")[2])
    archived = _INTERNET_ARCHIVE.match(path)
    if archived:
        path = _archived_path(archived.group(1), path)
    return path


def _archived_path(url: str, fallback: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError:
        return fallback
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return _slashes(path)


def _clean_query(path: str) -> str:
    """Drop tracking parameters and re-encode the rest sorted by key (§11.1 rule 4)."""
    if "?" not in path:
        return path
    path = path.rstrip("?&")
    before_fragment, _, fragment = path.partition("#")
    if "?" in before_fragment:
        base, _, query = before_fragment.partition("?")
        pairs = parse_query(query)
        drop_from = next((v for k, v in pairs if k == "from"), None) in _MESSAGE_SHARES
        encoded = encode_query([(k, v) for k, v in pairs if not _is_tracking(k, drop_from)])
        path = base + ("?" + encoded if encoded else "") + ("#" + fragment if fragment else "")
    return _slashes(path)


def _is_tracking(key: str, drop_from: bool) -> bool:
    return key in _TRACKING_PARAMS or key.startswith("utm_") or (drop_from and key == "from")


def _is_dropped(path: str) -> bool:
    return (path.startswith(_DROPPED_PREFIX) or "<html>" in path or "<HTML>" in path
            or path == "/favicon.ico")
