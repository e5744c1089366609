"""Basic API family: /api/sites, /api/ignore, /api/tokens, /api/stats (spec basic.md). JSON in
and out; every error is {"error": "<short message>"}, never a stack trace."""
from flask import Blueprint, current_app, jsonify
from werkzeug.exceptions import HTTPException

from app import errors
from app.api.basic import routes
from app.api.basic.schemas import BadRequest
from app.exceptions import AuthError, PermissionDenied, SiteNotFound, ValidationError
from app.extensions import limiter
from app.stats.hits import InvalidWindow

bp = Blueprint("basic_api", __name__, url_prefix="/api")
PREFIXES = ("/api/sites", "/api/ignore", "/api/tokens", "/api/stats")
HTTP_MESSAGES = {400: "bad request", 404: "not found", 405: "method not allowed",
                 413: "request too large", 415: "unsupported media type",
                 429: "too many requests"}


def error(status, message):
    return jsonify(error=message), status


@bp.errorhandler(AuthError)
def _unauthorized(exc):
    return error(401, "unauthorized")


@bp.errorhandler(PermissionDenied)
def _forbidden(exc):
    return error(403, exc.message)


@bp.errorhandler(SiteNotFound)
def _site_not_found(exc):
    return error(404, "site not found")


@bp.errorhandler(BadRequest)
@bp.errorhandler(InvalidWindow)
def _bad_request(exc):
    return error(400, exc.message)


@bp.errorhandler(ValidationError)
def _invalid(exc):
    """A service refused a value: "invalid <field>" for the first field it names."""
    return error(400, f"invalid {sorted(exc.errors)[0]}")


@bp.errorhandler(429)
def _rate_limited(exc):
    return _http_error(exc)


@bp.errorhandler(Exception)
def _unexpected(exc):
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    current_app.logger.error("unexpected error in the Basic API", exc_info=exc)
    return error(500, "internal error")


def _http_error(exc):
    """HTTP errors under the family's prefixes, also for paths no route matches."""
    status = exc.code or 500
    if status >= 500:
        return error(status, "internal error")
    response = jsonify(error=HTTP_MESSAGES.get(status, "bad request"))
    response.status_code = status
    headers = dict(exc.get_headers())
    for name in ("Allow", "Retry-After"):
        if headers.get(name):
            response.headers[name] = headers[name]
    return response


bp.record_once(lambda state: errors.register_api_errors(state.app, PREFIXES, _http_error))
routes.register(bp)
# Ibex's API rate limit per client IP (the original server had none); 429 in this shape.
limiter.shared_limit(lambda: current_app.config["BASIC_API_RATE_LIMIT"], scope="basic-api")(bp)
