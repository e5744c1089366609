"""App-wide HTML error pages. API families register their own JSON/plain-text error handlers
on their blueprints; nothing here ever shows a stack trace."""
import math
import time

from flask import current_app, render_template, request
from flask.globals import request_ctx
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from app.extensions import limiter

TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    413: "Too large",
    429: "Too many requests",
    500: "Something went wrong",
}


def register(app):
    app.extensions.setdefault("ibex_api_errors", [])
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(RateLimitExceeded, _rate_limited)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def render_error(status, message, headers=None):
    if request_ctx.url_adapter is None:
        # The Host header could not be parsed (werkzeug's BadHost), so no URL can be built for
        # the page's links: answer in plain text rather than fail again with a 500.
        return (f"{message}\n", status,
                {**(headers or {}), "Content-Type": "text/plain; charset=utf-8"})
    body = render_template("errors/error.html", status=status,
                           title=TITLES.get(status, "Error"), message=message)
    return body, status, headers or {}


def _csrf_error(exc):
    return render_error(400, "This form was not sent from an Ibex page or it expired. "
                             "Go back, reload the page and try again.")


def _rate_limited(exc):
    current = limiter.current_limit
    wait = 60
    if current:
        # reset_at is a whole second; never announce more than one window.
        wait = min(max(1, math.ceil(current.reset_at - time.time())), current.limit.get_expiry())
    return render_error(429, f"Too many attempts. Try again in {wait} seconds.",
                        {"Retry-After": str(wait)})


def register_api_errors(app, prefixes, render):
    """Let an API family answer HTTP errors (404, 405, 413, …) under its path ``prefixes`` in
    its own shape: ``render(exc)`` returns a response. Blueprint error handlers cannot do this,
    since a request that matches no route belongs to no blueprint. The longest prefix wins."""
    renderers = app.extensions.setdefault("ibex_api_errors", [])
    renderers.extend((prefix, render) for prefix in prefixes)
    renderers.sort(key=lambda entry: len(entry[0]), reverse=True)


def _api_renderer():
    for prefix, render in current_app.extensions.get("ibex_api_errors", ()):
        if request.path.startswith(prefix):
            return render
    return None


def _http_error(exc):
    render = _api_renderer()
    if render is not None:
        return render(exc)
    return render_error(exc.code or 500, exc.description or TITLES.get(exc.code, ""))


def _unexpected(exc):
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    current_app.logger.exception("unhandled error")
    render = _api_renderer()
    if render is not None:
        return render(InternalServerError(original_exception=exc))
    return render_error(500, InternalServerError.description)
