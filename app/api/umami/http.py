"""Umami's HTTP conventions (spec §1): plain-text error bodies without a Content-Type, and the
request body as Umami's framework parses it (JSON, a form, or nothing)."""
from flask import Response, request

from app.tracking.payloads import loads_json

MAX_BODY = 1024 * 1024
TEXTS = {400: "400 Bad Request", 401: "401 Unauthorized", 403: "403 Forbidden",
         404: "404 Not Found", 405: "405 Method Not Allowed", 413: "Body exceeded 1mb limit",
         429: "429 Too Many Requests", 500: "Internal Server Error"}


class UmamiError(Exception):
    """An answer in Umami's error shape: ``status`` and a plain-text ``message``."""

    def __init__(self, status, message=None):
        super().__init__(message or TEXTS[status])
        self.status = status
        self.message = message or TEXTS[status]


def text_response(status, message=None):
    """Umami's handler errors: plain text and no Content-Type header at all."""
    response = Response(message or TEXTS.get(status, str(status)), status=status)
    response.headers.pop("Content-Type", None)
    return response


def body():
    """The request body as Umami's framework parses it: a JSON value (empty body: {}), a form
    as a dict, or None for any other content type. Raises UmamiError 400/413."""
    if (request.content_length or 0) > MAX_BODY:
        raise UmamiError(413)
    if request.mimetype == "application/json":
        raw = request.get_data(cache=True)
        if len(raw) > MAX_BODY:
            raise UmamiError(413)
        if not raw.strip():
            return {}
        try:
            return loads_json(raw)
        except (ValueError, UnicodeDecodeError):
            raise UmamiError(400, "Invalid JSON") from None
    if request.mimetype == "application/x-www-form-urlencoded":
        return request.form.to_dict()
    return None
