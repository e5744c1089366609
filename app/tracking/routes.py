"""Tracking endpoints: GoatCounter /count, Umami /api/collect, Basic /collect. Each validates,
resolves the site, checks the ignore list and Do-Not-Track, and pushes a HitIn — no database."""
import json
import re

from flask import Response, request

from app import ratelimits
from app.ingest import bots, ingest
from app.netaddr import client_ip
from app.tracking import cache_token, payloads
from app.tracking.payloads import Invalid

GIF = bytes.fromhex("47494638396101000100800100000000ffffff21f904010a0001002c00000000010001"
                    "000002024c01003b")
UMAMI_MAX_BODY = 1024 * 1024
# What gunicorn sends as a header value: it answers a bare 400, or drops the connection, for
# a response header with a control character or a character beyond Latin-1.
_UNSENDABLE = re.compile("[^ \t\x21-\x7e\x80-\xff]")


def _header(value, utf8=False):
    """A header value any server sends: control characters become spaces; ``utf8`` text (our
    own messages, which may quote parameters) goes out as its UTF-8 bytes, as Go writes it.
    Request header values are already bytes-as-Latin-1 (WSGI) and are not re-encoded."""
    if utf8:
        value = value.encode("utf-8", "replace").decode("latin-1")
    return _UNSENDABLE.sub(" ", value).strip()


class _Headers:
    """Request headers read straight from the WSGI environ. Same values as request.headers,
    but a missing header costs no raised and caught KeyError (most of those looked up here are
    missing on most hits)."""
    __slots__ = ("environ",)

    def __init__(self, environ):
        self.environ = environ

    def get(self, name, default=None):
        return self.environ.get("HTTP_" + name.upper().replace("-", "_"), default)


def _dnt(site, environ):
    return site.setting("dnt") and (environ.get("HTTP_DNT") == "1"
                                    or environ.get("HTTP_SEC_GPC") == "1")


def _drop(site, reason, path=""):
    """Record a hot-path drop (counted in the bot log; nothing about the visitor is kept)."""
    from app.ingest.hit_in import HitIn
    ingest().push(HitIn(site_id=site.id, path=path[:2048], drop=reason))


# --- GoatCounter -----------------------------------------------------------------------------

def _gif(status=200, reason=None):
    response = Response(GIF, status=status, mimetype="image/gif")
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.headers["Cache-Control"] = "no-store,no-cache"
    if reason:
        response.headers["X-Goatcounter"] = _header(reason, utf8=True)
    return response


def count():
    # GoatCounter's count bucket (spec §3): this blueprint skips Flask-Limiter's hooks, so the
    # check is here — nothing for loopback, else one increment in the rate-limit storage.
    ip = client_ip()
    limit = ratelimits.count_outcome(ip, request.environ.get("HTTP_USER_AGENT", ""))
    if limit is None:
        return _count(ip)
    if not limit.allowed:
        return ratelimits.too_many(limit, request.mimetype == "application/json")
    return ratelimits.add_headers(_count(ip), limit)


def _count(ip):
    runtime = ingest()
    sites = runtime.sites
    environ = request.environ
    page = environ.get("HTTP_ORIGIN") or environ.get("HTTP_REFERER")
    site = sites.by_host(request.host) or sites.by_page(page) or sites.only_site()
    if site is None:
        return _gif(400, f'no site at this domain ("{request.host}")')
    if bots.is_prefetch(_Headers(environ)):
        return _gif(200)
    if sites.is_ignored(site, ip):
        _drop(site, "ignored-ip", request.args.get("p", ""))
        return _gif(202, f'ignored because "{ip}" is in the IP ignore list')
    if _dnt(site, environ):
        _drop(site, "dnt")
        return _gif(202, "ignored because of Do-Not-Track")
    try:
        # A plain dict of each parameter's first value, as MultiDict.get gives it (whose
        # misses raise and catch an exception each).
        hit = payloads.goatcounter_count(request.args.to_dict(), site.id,
                                         environ.get("HTTP_USER_AGENT", ""), ip,
                                         environ.get("HTTP_ACCEPT_LANGUAGE", "")[:200])
    except Invalid as exc:
        return _gif(400, exc.message)
    runtime.push(hit)
    return _gif(200)


# --- Umami -----------------------------------------------------------------------------------

def _umami_text(status, body):
    response = Response(body, status=status)
    response.headers.remove("Content-Type")  # Umami's errors carry no Content-Type
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _umami_json(body):
    response = Response(body, mimetype="application/json")
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def umami_collect():
    if request.method == "OPTIONS":
        response = Response(status=204)
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Methods"] = "GET,HEAD,PUT,PATCH,POST,DELETE"
        wanted = request.headers.get("Access-Control-Request-Headers")
        if wanted:
            response.headers["Access-Control-Allow-Headers"] = _header(wanted)
        response.headers["Vary"] = "Access-Control-Request-Headers"
        response.headers["Content-Length"] = "0"
        return response
    if (request.content_length or 0) > UMAMI_MAX_BODY:
        return _umami_text(413, "Body exceeded 1mb limit")
    raw = request.get_data(cache=False)
    if len(raw) > UMAMI_MAX_BODY:
        return _umami_text(413, "Body exceeded 1mb limit")
    body = None
    if request.mimetype == "application/json":
        try:
            body = payloads.loads_json(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            response = Response("Invalid JSON", status=400)
            response.headers.remove("Content-Type")
            return response
    payload = body.get("payload") if isinstance(body, dict) else None
    if not isinstance(payload, dict):
        return _umami_text(400, "Invalid request")
    environ = request.environ
    user_agent = environ.get("HTTP_USER_AGENT", "")
    if bots.isbot(user_agent):  # Umami's own rule (spec §6.6)
        return _umami_json("{}")
    runtime = ingest()
    sites = runtime.sites
    site = sites.by_id(cache_token.read(payload.get("cache")) or 0)
    if site is None:
        try:
            website = payloads.umami_website(payload)
        except Invalid as exc:
            return _umami_text(400, exc.message)
        site = sites.by_uuid(website)
        if site is None:
            return _umami_text(400, f"Website not found: {website}")
    ip = client_ip()
    if sites.is_ignored(site, ip):
        _drop(site, "ignored-ip")
        return _umami_json("{}")
    if _dnt(site, environ):
        _drop(site, "dnt")
        return _umami_json("{}")
    try:
        hit = payloads.umami_hit(body.get("type"), payload, site.id, user_agent[:512], ip)
    except Invalid as exc:
        return _umami_text(400, exc.message)
    runtime.push(hit)
    return _umami_json(cache_token.make(site.id))


# --- Basic -----------------------------------------------------------------------------------

def _basic(status, body=None):
    response = Response(json.dumps(body) if body is not None else None, status=status,
                        mimetype="application/json" if body is not None else None)
    if body is None:
        response.headers.remove("Content-Type")  # 204 No Content has no body to describe
    origin = _header(request.headers.get("Origin") or "")
    response.headers["Access-Control-Allow-Origin"] = origin or "*"
    response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Content-Type"
    response.headers["Vary"] = "Origin"
    return response


def basic_collect():
    if request.method == "OPTIONS":
        return _basic(204)
    environ = request.environ
    page = environ.get("HTTP_ORIGIN") or environ.get("HTTP_REFERER")
    if not page:
        return _basic(400, {"error": "missing origin or referer"})
    try:
        body = payloads.loads_json(request.get_data(cache=False) or b"null")
    except (ValueError, UnicodeDecodeError):
        return _basic(400, {"error": "invalid json"})
    ip = client_ip()
    limit = ratelimits.collect_outcome(ip)
    if limit is not None and not limit.allowed:
        response = _basic(429, {"error": "too many requests"})
        response.headers["Retry-After"] = str(limit.reset_seconds)
        return response
    runtime = ingest()
    sites = runtime.sites
    site = sites.by_page(page)
    try:
        hit = payloads.basic_hit(body, site.id if site else 0,
                                 environ.get("HTTP_USER_AGENT", ""), ip,
                                 environ.get("HTTP_ACCEPT_LANGUAGE", "")[:200])
    except Invalid as exc:
        return _basic(400, {"error": exc.message})
    if site is None:
        return _basic(204)  # not a registered site: silently ignored
    if sites.is_ignored(site, hit.ip):
        _drop(site, "ignored-ip", hit.path)
        return _basic(204)
    if _dnt(site, environ):
        _drop(site, "dnt")
        return _basic(204)
    runtime.push(hit)
    return _basic(204)


def register(bp):
    bp.add_url_rule("/count", "count", count, methods=["GET", "POST"])
    bp.add_url_rule("/api/collect", "umami_collect", umami_collect,
                    methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    bp.add_url_rule("/collect", "basic_collect", basic_collect, methods=["POST", "OPTIONS"])
