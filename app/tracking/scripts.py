"""The tracking scripts: /count.js (and the versioned /count.v1.js … /count.v5.js) with its
companion /count-counter.js (goatcounter.visit_count(), which count.js loads on first use),
/umami.js and /track.js, served from static/build/ (minified by `make static`) or, when that
build is missing, from their readable sources in static/tracking/."""
import hashlib
import os
import threading
from dataclasses import dataclass

from flask import Response, current_app, request

CONTENT_TYPE = "application/javascript; charset=utf-8"
SHORT_CACHE = "public, max-age=3600"
LONG_CACHE = "public, max-age=2592000"  # Umami's own (spec/umami.md §12.1): 30 days
IMMUTABLE = "public, max-age=31536000, immutable"
VERSIONS = range(1, 6)  # count.v1.js … count.v5.js (spec/goatcounter.md §8.1)


@dataclass(frozen=True)
class Script:
    body: bytes
    etag: str


_cache = {}
_lock = threading.Lock()


def load(name):
    """The script ``name`` (e.g. "count.js"): minified build if present, else the source.
    Read once per static folder and kept; a new build is served after a restart."""
    key = (current_app.static_folder, name)
    script = _cache.get(key)
    if script is None:
        with _lock:
            script = _cache.get(key)
            if script is None:
                script = _cache[key] = _read(current_app.static_folder, name)
    return script


def _read(static_folder, name):
    for folder in ("build", "tracking"):
        path = os.path.join(static_folder, folder, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                body = f.read()
            return Script(body, hashlib.sha256(body).hexdigest()[:32])
    raise FileNotFoundError(f"tracking script {name} is neither in static/build/ nor static/tracking/")


def _serve(name, cache_control):
    script = load(name)
    response = Response(script.body, content_type=CONTENT_TYPE)
    response.set_etag(script.etag)
    response.headers["Cache-Control"] = cache_control
    # Pages on any origin load these scripts.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response.make_conditional(request)


def count_js():
    return _serve("count.js", SHORT_CACHE)


def count_js_versioned(version):
    # Upstream freezes old copies; Ibex serves the current script, which keeps the same
    # interface, under each versioned name.
    return _serve("count.js", IMMUTABLE)


def count_counter_js():
    # Loaded by count.js (any version) from next to itself; served like count.js.
    return _serve("count-counter.js", SHORT_CACHE)


def umami_js():
    return _serve("umami.js", LONG_CACHE)


def track_js():
    return _serve("track.js", SHORT_CACHE)


def register(bp):
    """Add the script routes to the tracking blueprint."""
    bp.add_url_rule("/count.js", "count_js", count_js, methods=["GET"])
    for version in VERSIONS:
        bp.add_url_rule(f"/count.v{version}.js", f"count_js_v{version}", count_js_versioned,
                        methods=["GET"], defaults={"version": version})
    bp.add_url_rule("/count-counter.js", "count_counter_js", count_counter_js, methods=["GET"])
    bp.add_url_rule("/umami.js", "umami_js", umami_js, methods=["GET"])
    bp.add_url_rule("/track.js", "track_js", track_js, methods=["GET"])
