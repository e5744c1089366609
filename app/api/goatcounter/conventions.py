"""What every /api/v0 request goes through before and after its view (spec §1.4, §3, §4.3,
§4.5): the 415 for a body that is not JSON, the rate limits, the trailing-slash redirect,
OPTIONS, and the Cache-Control, CORS and X-Rate-Limit headers of every answer. These are
app-wide hooks limited to the prefix, since 404s and 405s belong to no blueprint."""
from flask import Response, g, redirect, request

from app import ratelimits

PREFIX = "/api/v0"
METHODS = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"


def _ours():
    path = request.path
    return path == PREFIX or path.startswith(PREFIX + "/")


def before_request():
    if not _ours():
        return None
    if _has_body() and request.mimetype != "application/json":
        # Before anything else, also before the rate limits (spec §3, §4.3).
        return Response(b"", 415, mimetype="text/plain")
    limited = ratelimits.check_api()
    if limited is not None:
        return limited
    path = request.path
    if path.endswith("/") and len(path) > 1:
        query = request.query_string.decode("latin-1")
        return redirect(path.rstrip("/") + (f"?{query}" if query else ""), 301)
    if request.method == "OPTIONS":
        response = Response(b"", 200)
        response.headers["Allow"] = METHODS
        response.headers.remove("Content-Type")
        return response
    return None


def _has_body():
    if request.content_length:
        return True
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        return bool(request.get_data(cache=True))
    return False


def after_request(response):
    if not _ours():
        return response
    response.headers.setdefault("Cache-Control", "no-store,no-cache")
    if request.headers.get("Origin"):
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Credentials"] = "true"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            response.headers["Access-Control-Allow-Methods"] = METHODS
    outcome = g.get("goatcounter_rate_limit")
    if outcome is not None and "X-Rate-Limit-Limit" not in response.headers:
        ratelimits.add_headers(response, outcome)
    return response


def register(app):
    """Install the hooks; the 415/rate-limit hook runs before every other before_request."""
    app.before_request_funcs.setdefault(None, []).insert(0, before_request)
    app.after_request_funcs.setdefault(None, []).append(after_request)
