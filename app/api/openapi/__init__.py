"""The API documents, built by apispec from the views' docstrings (YAML after ``---``) and the
marshmallow schemas that validate requests: /api.json (OpenAPI 2.0, the GoatCounter family),
/openapi.json (OpenAPI 3, every family) and /api.html, a reference page rendered from the latter
on the server. Routes are found by walking ``app.url_map``: a route that lands later is listed."""
import json

import click
from flask import Blueprint, current_app, jsonify, render_template

from app.api.openapi.documents import OPENAPI, SWAGGER, build, document
from app.api.openapi.page import page_model
from app.ui.access import security_headers

__all__ = ["OPENAPI", "SWAGGER", "bp", "build", "document"]

bp = Blueprint("openapi", __name__, cli_group=None)  # its command is `flask openapi`


@bp.route("/api.json")
def swagger_document():
    """The GoatCounter family as OpenAPI 2.0 (GoatCounter publishes its API as /api.json)."""
    return _json(document(current_app, SWAGGER))


@bp.route("/openapi.json")
def openapi_document():
    """Every API family as OpenAPI 3."""
    return _json(document(current_app, OPENAPI))


def _json(value):
    response = jsonify(value)
    response.headers["Access-Control-Allow-Origin"] = "*"  # public, and read by API tools
    return response


@bp.route("/api.html")
def reference():
    """The API reference page: every family's operations and schemas, no script."""
    model = page_model(document(current_app, OPENAPI))
    return security_headers(current_app.make_response(
        render_template("api/reference.html", **model)))


@bp.cli.command("openapi")
@click.option("--openapi", "version", type=click.Choice(["2", "3"]), default="3",
              show_default=True, help="2: /api.json (GoatCounter); 3: /openapi.json (all).")
@click.option("--output", type=click.File("w"), default="-", help="File to write (default: "
              "standard output).")
@click.option("--strict", is_flag=True, help="Exit with status 1 when a docstring has problems.")
def openapi_command(version, output, strict):
    """Write an OpenAPI document; problems in the views' docstrings go to standard error."""
    document, problems = build(current_app, SWAGGER if version == "2" else OPENAPI)
    json.dump(document, output, indent=2)
    output.write("\n")
    for problem in problems:
        click.echo(f"openapi: {problem}", err=True)
    if strict and problems:
        raise SystemExit(1)
