"""Helpers every Umami view shares: argument and body loading with the family's 400, the
method checks of spec §5, JSON answers through the response schemas."""
from datetime import timezone

from flask import jsonify, request
from marshmallow import ValidationError as SchemaError

from app.api.umami.http import UmamiError
from app.exceptions import ValidationError
from app.extensions import db

ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def load(schema, data):
    """Schema-validated input; bad input is Umami's 400 (upstream often answered 500)."""
    try:
        return schema.load(data if isinstance(data, dict) else {})
    except SchemaError:
        raise UmamiError(400) from None


def query_args(schema):
    return load(schema, request.args.to_dict())


def method(*allowed):
    if request.method not in allowed and not (request.method == "HEAD" and "GET" in allowed):
        raise UmamiError(405)


def ok(schema, value, many=False):
    return jsonify(schema.dump(value, many=many))


def ms(moment):
    """A naive UTC datetime as Unix milliseconds."""
    return int(moment.replace(tzinfo=timezone.utc).timestamp() * 1000)


def valid(function, *args):
    try:
        return function(*args)
    except ValidationError as exc:
        db.session.rollback()
        raise UmamiError(400, f"400 Bad Request: {exc}") from None
