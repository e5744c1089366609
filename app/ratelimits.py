"""GoatCounter's rate limits (spec §3) for /api/v0 and the /count pixel: fixed windows per
client IP (per IP + User-Agent for /count), counted in the app's rate-limit storage through
the ``limits`` library — memory in the embedded default, Redis shared by every node when
REDIS_URL is set. Buckets and sizes come from GOATCOUNTER_RATE_LIMITS (config.py). (UI login
limits are Flask-Limiter decorators; the tracking blueprint skips Flask-Limiter's hooks.)"""
import math
import time
import zlib
from dataclasses import dataclass

from flask import Response, current_app, g, json, request
from limits.storage import storage_from_string

from app.netaddr import client_ip

EXTENSION = "goatcounter_ratelimits"


@dataclass(frozen=True)
class Outcome:
    """One bucket's state after a request: ``reset`` is seconds (float) until its window ends."""
    limit: int
    remaining: int
    reset: float
    allowed: bool

    @property
    def reset_seconds(self):
        return max(1, math.ceil(self.reset))


class RateLimits:
    """The buckets of one app. Each window is ``seconds`` long and aligned to the epoch, so
    one atomic increment per bucket (one Redis round trip) answers the request and the reset
    time needs no second query."""

    def __init__(self, storage, prefix, buckets, enabled=True, clock=time.time):
        self.storage = storage
        self.prefix = prefix
        self.buckets = {name: spec for name, spec in buckets.items() if spec and enabled}
        self.clock = clock  # seconds since the epoch; tests pin it to a window's start

    def hit(self, name, ident, now=None):
        """Count one request of ``ident`` in bucket ``name``; None when the bucket is off."""
        spec = self.buckets.get(name)
        if spec is None:
            return None
        limit, seconds = spec
        now = self.clock() if now is None else now
        window = int(now // seconds)
        reset = (window + 1) * seconds - now
        try:
            used = self.storage.incr(f"{self.prefix}:gc:{name}:{window}:{ident}", seconds)
        except Exception:  # storage down: let the request through rather than fail it
            current_app.logger.warning("rate-limit storage unavailable", exc_info=True)
            return Outcome(limit, limit - 1, reset, True)
        return Outcome(limit, max(0, limit - used), reset, used <= limit)


def init_app(app):
    config = app.config
    buckets = {**config["GOATCOUNTER_RATE_LIMITS"], "collect": config.get("COLLECT_RATE_LIMIT")}
    app.extensions[EXTENSION] = RateLimits(
        storage_from_string(config["RATELIMIT_STORAGE_URI"]), config["RATELIMIT_KEY_PREFIX"],
        buckets, enabled=config.get("RATELIMIT_ENABLED", True))


def limits():
    return current_app.extensions[EXTENSION]


def api_buckets(path):
    """The buckets of an /api/v0 request path, checked in this order (spec §3)."""
    if path == "/api/v0/count":
        return ("api-count",)
    if path == "/api/v0/export":
        return ("export",)
    return ("api2", "api")


def check_api():
    """Count this /api/v0 request; a 429 response when a bucket is exhausted, else None. The
    outcome reported in the X-Rate-Limit headers is kept on ``g``."""
    buckets, ident = limits(), client_ip()
    for name in api_buckets(request.path):
        outcome = buckets.hit(name, ident)
        if outcome is None:
            continue
        g.goatcounter_rate_limit = outcome
        if not outcome.allowed:
            return too_many(outcome, request.mimetype == "application/json")
    return None


def count_outcome(ip, user_agent):
    """The /count bucket (key: IP + User-Agent); None when not limited. Loopback is exempt."""
    if ip.startswith("127.") or ip == "::1":
        return None
    return current_app.extensions[EXTENSION].hit(
        "count", f"{ip}:{zlib.crc32(user_agent.encode('utf-8', 'replace')):x}")


def collect_outcome(ip):
    """The Basic family's /collect bucket (key: client IP); None when not limited. Loopback
    is exempt, as for /count."""
    if ip.startswith("127.") or ip == "::1":
        return None
    return current_app.extensions[EXTENSION].hit("collect", ip)


def add_headers(response, outcome):
    headers = response.headers
    headers["X-Rate-Limit-Limit"] = str(outcome.limit)
    headers["X-Rate-Limit-Remaining"] = str(outcome.remaining)
    headers["X-Rate-Limit-Reset"] = str(outcome.reset_seconds)
    return response


def too_many(outcome, as_json):
    """The 429 of spec §3: JSON when the request was JSON, else the sentence as plain text."""
    message = f"rate limited exceeded; try again in {go_duration(outcome.reset)}"
    if as_json:
        response = Response(json.dumps({"error": message}), 429, mimetype="application/json")
    else:
        response = Response(message + "\n", 429, mimetype="text/plain")
    response.headers["Retry-After"] = str(outcome.reset_seconds)
    return add_headers(response, outcome)


def go_duration(seconds):
    """A duration as Go's time.Duration prints it, to the millisecond: 812ms, 1.5s, 59m59s."""
    millis = max(0, round(seconds * 1000))
    if millis < 1000:
        return f"{millis}ms"
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs = f"{millis / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
