"""Umami (v1.17) API family: /api/auth/…, /api/website(s)/…, /api/share/…, /api/account(s)/…,
/api/realtime/… (spec/umami.md). Errors are Umami's plain-text bodies (§1)."""
from flask import Blueprint, current_app, request
from flask_limiter import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from app import errors
from app.api.umami import routes
from app.api.umami.http import TEXTS, UmamiError, text_response

bp = Blueprint("umami_api", __name__, url_prefix="/api")
PREFIXES = ("/api/auth/", "/api/website", "/api/share/", "/api/account", "/api/realtime/")


@bp.errorhandler(UmamiError)
def _umami_error(exc):
    return text_response(exc.status, exc.message)


@bp.errorhandler(RateLimitExceeded)
def _rate_limited(exc):
    response = text_response(429)
    response.headers["Retry-After"] = "60"
    return response


def _http_error(exc):
    """404, 405, 413 and unexpected errors under Umami's paths (spec §1)."""
    status = exc.code if isinstance(exc, HTTPException) and exc.code else 500
    if status >= 500:
        current_app.logger.info("Umami API answered %s for %s", status, request.path)
    return text_response(status, TEXTS.get(status))


bp.record_once(lambda state: errors.register_api_errors(state.app, PREFIXES, _http_error))

routes.register(bp)
