"""Decoding GoatCounter API requests (spec §4.3–4.4) with marshmallow schemas: query strings
and JSON bodies, unknown parameters refused, Go-style CamelCase aliases accepted, and the
family's error texts. Views raise ApiError; the blueprint renders it as {"error": …}."""
import json

from flask import request
from marshmallow import Schema, fields
from marshmallow import ValidationError as SchemaError

from app.api.goatcounter import schemas

JSON_TYPE = "application/json"
# Go's initialisms: a field path_id is PathID in Go, so its CamelCase alias is too.
_INITIALISMS = {"id": "ID", "ip": "IP", "url": "URL", "json": "JSON", "csv": "CSV", "uuid": "UUID"}


class ApiError(Exception):
    """An error answered as ``{"error": message}`` with ``status`` (``message`` None: no
    body, as for the 415 of a body with the wrong Content-Type)."""

    def __init__(self, status, message=None):
        super().__init__(message)
        self.status = status
        self.message = message


def _instance(schema):
    return schema() if isinstance(schema, type) else schema


def camel_names(name):
    """The Go-style CamelCase aliases of a snake_case name: include_paths → IncludePaths;
    path_id → PathID and PathId."""
    parts = [part for part in name.split("_") if part]
    plain = "".join(part.capitalize() for part in parts)
    go = "".join(_INITIALISMS.get(part, part.capitalize()) for part in parts)
    return {plain, go} - {name}


def _aliases(schema):
    """{accepted name: data key} for the schema's load fields (data key, CamelCase aliases and
    any names listed in a field's ``metadata["aliases"]``)."""
    names = {}
    for name, field in schema.load_fields.items():
        key = field.data_key or name
        for alias in (*camel_names(key), *field.metadata.get("aliases", ())):
            names.setdefault(alias, key)
    for name, field in schema.load_fields.items():
        names[field.data_key or name] = field.data_key or name
    return names


def _details(messages, prefix=""):
    """marshmallow's nested error messages as 'a.b: msg, msg; c: msg' (keys sorted)."""
    if isinstance(messages, (list, tuple)):
        if all(isinstance(item, str) for item in messages):
            text = ", ".join(messages)
            return [f"{prefix}: {text}" if prefix else text]
        return [line for item in messages for line in _details(item, prefix)]
    if isinstance(messages, dict):
        lines = []
        for key in sorted(messages, key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            lines.extend(_details(messages[key], name))
        return lines
    return [f"{prefix}: {messages}" if prefix else str(messages)]


def error_details(exc):
    return "; ".join(_details(exc.messages))


def query_args(schema, args=None):
    """Decode ``request.args`` (or ``args``) with a marshmallow schema (class or instance);
    returns the loaded dict. Raises ApiError 400 for an unknown parameter or a bad value."""
    schema = _instance(schema)
    args = request.args if args is None else args
    names = _aliases(schema)
    data = {}
    for name in args:
        key = names.get(name)
        if key is None:
            raise ApiError(400, f'unknown parameter: "{name}"')
        field = schema.fields.get(_attribute(schema, key))
        many = isinstance(field, fields.List) and not isinstance(field.inner, fields.Nested)
        data[key] = args.getlist(name) if many else args.get(name)
    try:
        return schema.load(data)
    except SchemaError as exc:
        raise ApiError(400, f"invalid query parameters: {error_details(exc)}") from None


def _attribute(schema, key):
    for name, field in schema.load_fields.items():
        if (field.data_key or name) == key:
            return name
    return key


def json_body():
    """The request body as a JSON object, per spec §4.3 (415 rules) and §4.4 (invalid JSON)."""
    raw = request.get_data(cache=True)
    is_json = request.mimetype == JSON_TYPE
    if raw.strip() and not is_json:
        raise ApiError(415)
    if not raw.strip():
        if not is_json:
            raise ApiError(415, f'unable to handle Content-Type "{request.content_type or ""}"')
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"invalid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"invalid JSON: expected an object, not {_json_type(body)}")
    return body


def _json_type(value):
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def json_args(schema, body=None):
    """Decode the JSON body (or ``body``) with a marshmallow schema; returns the loaded dict.
    Unknown keys, also inside nested objects, → ApiError 400 ``unknown parameter: "<key>"``
    (the innermost name); type mismatches → ApiError 400 ``invalid JSON: <details>``."""
    schema = _instance(schema)
    body = json_body() if body is None else body
    body = _canonical(schema, body)
    token = schemas.json_input.set(True)
    try:
        return schema.load(body)
    except SchemaError as exc:
        raise ApiError(400, f"invalid JSON: {error_details(exc)}") from None
    finally:
        schemas.json_input.reset(token)


def _canonical(schema, body):
    """``body`` with aliases renamed to data keys, recursively; ApiError for unknown keys."""
    names = _aliases(schema)
    data = {}
    for name, value in body.items():
        key = names.get(name)
        if key is None:
            raise ApiError(400, f'unknown parameter: "{name}"')
        field = schema.fields.get(_attribute(schema, key))
        data[key] = _nested(field, value)
    return data


def _nested(field, value):
    if isinstance(field, fields.Nested) and isinstance(field.schema, Schema):
        if field.many and isinstance(value, list):
            return [_canonical(field.schema, item) if isinstance(item, dict) else item
                    for item in value]
        if isinstance(value, dict):
            return _canonical(field.schema, value)
    if isinstance(field, fields.List) and isinstance(value, list):
        return [_nested(field.inner, item) for item in value]
    return value
