"""GoatCounter API family, /api/v0/…: JSON in and out, errors as {"error": …} or
{"errors": {…}} (spec §4). Each view module has a register(bp) that adds its routes."""
import secrets

from flask import Blueprint, current_app, jsonify
from werkzeug.exceptions import HTTPException

from app import errors, ratelimits
from app.api.goatcounter import (conventions, diagnostic, exports, routes, sites,
                                 stats)
from app.api.goatcounter.decoding import ApiError
from app.exceptions import AuthError, PermissionDenied, ValidationError

bp = Blueprint("goatcounter_api", __name__, url_prefix="/api/v0")
PREFIX = "/api/v0"
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"


@bp.errorhandler(AuthError)
def _unauthorized(exc):
    response = jsonify(error=exc.message)
    response.status_code = 401
    if exc.reason != "not-admin":  # spec §2.3: steps 1–4 only
        response.headers["WWW-Authenticate"] = "Basic realm=GoatCounter"
    return response


@bp.errorhandler(PermissionDenied)
def _forbidden(exc):
    return jsonify(error=exc.message), 403


@bp.errorhandler(ApiError)
def _api_error(exc):
    if exc.message is None:
        return "", exc.status, {"Content-Type": "text/plain; charset=utf-8"}
    return jsonify(error=exc.message), exc.status


@bp.errorhandler(ValidationError)
def _invalid(exc):
    return jsonify(errors={key: exc.errors[key] for key in sorted(exc.errors)}), 400


@bp.errorhandler(Exception)
def _unexpected(exc):
    """Errors a view raised: HTTP errors in the family's shape, anything else a logged 500."""
    if isinstance(exc, HTTPException):
        return _http_error(exc)
    return unexpected_error(exc)


def unexpected_error(exc):
    """The 500 of spec §4.2. The code is logged with the exception, so a report can be found."""
    number = secrets.randbits(40)
    code = ""
    while number:
        number, digit = divmod(number, 36)
        code += _BASE36[digit]
    current_app.logger.error("unexpected error code %s", code, exc_info=exc)
    message = f"unexpected error code ‘{code}’; this has been reported for investigation"
    return jsonify(error=message), 500


def _http_error(exc):
    """404, 405 and other HTTP errors under /api/v0/ (spec §4.2)."""
    if (exc.code or 500) >= 500:
        return unexpected_error(getattr(exc, "original_exception", None) or exc)
    message = {404: "not found", 405: "method not allowed"}.get(exc.code, exc.description)
    response = jsonify(error=message)
    response.status_code = exc.code
    if exc.code == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _on_app(state):
    errors.register_api_errors(state.app, (PREFIX + "/", PREFIX), _http_error)
    ratelimits.init_app(state.app)
    conventions.register(state.app)


bp.record_once(_on_app)
routes.register(bp)
sites.register(bp)
diagnostic.register(bp)
stats.register(bp)
exports.register(bp)
