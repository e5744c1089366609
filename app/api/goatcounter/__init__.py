"""GoatCounter API family, /api/v0/…: JSON in and out, errors as {"error": …} or
{"errors": {…}} (spec §4). The count API lives here; the rest arrives with the API issue."""
from flask import Blueprint, jsonify

from app import errors
from app.api.goatcounter import routes
from app.exceptions import AuthError, PermissionDenied

bp = Blueprint("goatcounter_api", __name__, url_prefix="/api/v0")


@bp.errorhandler(AuthError)
def _unauthorized(exc):
    response = jsonify(error=exc.message)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = "Basic realm=GoatCounter"
    return response


@bp.errorhandler(PermissionDenied)
def _forbidden(exc):
    return jsonify(error=exc.message), 403


def _http_error(exc):
    """404, 405 and other HTTP errors under /api/v0/ (spec §4.2)."""
    message = {404: "not found", 405: "method not allowed"}.get(exc.code, exc.description)
    return jsonify(error=message), exc.code or 500


bp.record_once(lambda state: errors.register_api_errors(state.app, ("/api/v0/",), _http_error))
routes.register(bp)
