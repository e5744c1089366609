"""GoatCounter's diagnostic endpoints: GET|POST /api/v0/test (spec §5.12), for conformance
tests of authentication and error handling, and GET /status (§1.3)."""
import platform
import sys
import time

from flask import current_app, g, request
from marshmallow import Schema, fields, validate

from app.api.goatcounter import schemas
from app.api.goatcounter.context import authorize
from app.api.goatcounter.decoding import ApiError, json_args, query_args
from app.exceptions import ValidationError
from app.extensions import db
from app.models import PERMISSIONS

_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
           "i686": "386", "armv7l": "arm"}


class ValidateSchema(Schema):
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class TestArgsSchema(Schema):
    """What /api/v0/test does; every field is optional."""
    class Meta:
        ordered = True

    perm = schemas.Int(load_default=0, metadata={"description": "permission bits to require"})
    status = schemas.Int(load_default=0, validate=validate.OneOf(
        [0, *range(200, 600)], error="must be 0 or a status from 200 to 599"),
        metadata={"description": "answer with this status"})
    panic = schemas.Bool(load_default=False, metadata={"description": "fail with a 500"})
    validate = fields.Nested(ValidateSchema, allow_none=True, load_default=None)
    context = schemas.Bool(load_default=False,
                           metadata={"description": "answer with the request's context"})


class TestContextSchema(Schema):
    site_id = fields.Integer()
    serve = fields.Boolean()
    db = fields.String()


class StatusSchema(Schema):
    class Meta:
        ordered = True

    uptime = fields.String()
    version = fields.String()
    database = fields.String()
    go = fields.String(metadata={"description": "Ibex: the Python version"})
    GOOS = fields.String()
    GOARCH = fields.String()
    race = fields.Boolean()
    cgo = fields.Boolean()


def test():
    """Diagnostic: decode, authenticate, then answer as asked.
    ---
    get:
      summary: Check authentication and error handling (parameters in the query string)
      parameters:
        - {in: query, name: perm, type: integer}
        - {in: query, name: status, type: integer}
        - {in: query, name: panic, type: boolean}
        - {in: query, name: context, type: boolean}
      responses:
        200: {description: the parsed arguments, or the context, schema: TestArgsSchema}
        401: {description: no or an unknown token, schema: ErrorSchema}
    post:
      summary: Check authentication and error handling (parameters in a JSON body)
      parameters:
        - {in: body, name: body, schema: TestArgsSchema}
      responses:
        200: {description: the parsed arguments, or the context, schema: TestArgsSchema}
        400: {description: the validation errors sent in validate, schema: ValidationErrorSchema}
    """
    args = query_args(TestArgsSchema) if request.method == "GET" else json_args(TestArgsSchema)
    authorize(*(name for name, bit in PERMISSIONS.items() if args["perm"] & bit))
    if args["panic"]:
        raise RuntimeError("panic requested through /api/v0/test")
    if args["validate"] and args["validate"].get("errors"):
        raise ValidationError(args["validate"]["errors"])
    if args["status"] == 500:
        raise RuntimeError("status 500 requested through /api/v0/test")
    if args["status"]:
        raise ApiError(args["status"], f"status {args['status']}")
    if args["context"]:
        return schemas.respond(TestContextSchema, {"site_id": g.site.id, "serve": True,
                                                   "db": db.engine.dialect.name})
    return schemas.respond(TestArgsSchema, args)


def status():
    """Server status; no authentication.
    ---
    get:
      summary: Uptime, version and database of this server
      responses:
        200: {description: the status, schema: StatusSchema}
    """
    started = current_app.extensions.get("goatcounter_started", time.time())
    response = schemas.respond(StatusSchema, {
        "uptime": _duration(time.time() - started),
        "version": "ibex",
        "database": _database(),
        "go": f"python{platform.python_version()}",
        "GOOS": sys.platform,
        "GOARCH": _GOARCH.get(platform.machine().lower(), platform.machine().lower()),
        "race": False, "cgo": False})
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = "no-store,no-cache"
    return response


def _database():
    dialect = db.engine.dialect
    if dialect.name == "sqlite":
        import sqlite3
        return f"SQLite {sqlite3.sqlite_version}"
    version = dialect.server_version_info
    if version is None:
        with db.engine.connect():
            version = dialect.server_version_info
    return "PostgreSQL " + ".".join(str(part) for part in version or ())


def _duration(seconds):
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes}m{secs}s" if hours else f"{minutes}m{secs}s" if minutes else f"{secs}s"


def register(bp):
    bp.add_url_rule("/test", "test", test, methods=["GET", "POST"])

    def on_app(state):
        state.app.extensions.setdefault("goatcounter_started", time.time())
        state.app.add_url_rule("/status", "goatcounter_status", status, methods=["GET"])
    bp.record_once(on_app)
