"""/api.json (OpenAPI 2.0, GoatCounter), /openapi.json (OpenAPI 3, every family) and the
/api.html reference page: every route of app.url_map is listed, found by walking the map (so
routes that land later are covered), both documents validate, docstring schema names resolve to
the marshmallow classes the views validate with, and the page escapes what it shows."""
import json
import re
import sys
import types

import pytest
from marshmallow import Schema, fields
from openapi_spec_validator import validate

from app.api.openapi import OPENAPI, SWAGGER, build
from app.api.openapi.documents import UNDOCUMENTED, component_names
from app.api.openapi.families import Family
from tests.conftest import make_app

METHODS = {"GET", "PUT", "POST", "PATCH", "DELETE"}
API_BLUEPRINTS = ("goatcounter_api.", "umami_api.", "basic_api.")
EXTRA_PATHS = {"/collect", "/status"}  # family routes outside /api/


def openapi_path(rule):
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)


def family_rules(app, predicate):
    return [rule for rule in app.url_map.iter_rules() if predicate(rule)]


def assert_listed(document, rules):
    """Each rule's path is in the document, with at least one of the rule's methods and none
    it does not serve."""
    assert rules
    for rule in rules:
        path = openapi_path(rule)
        assert path in document["paths"], f"{rule.rule} ({rule.endpoint}) is missing"
    by_path = {}
    for rule in rules:
        by_path.setdefault(openapi_path(rule), set()).update(rule.methods & METHODS)
    for path, served in by_path.items():
        documented = {m.upper() for m in document["paths"][path] if m.upper() in METHODS}
        assert documented, path
        assert documented <= served, (path, documented, served)


def test_every_goatcounter_route_is_in_api_json(app, client):
    document = client.get("/api.json").get_json()
    assert document["swagger"] == "2.0"
    rules = family_rules(app, lambda rule: rule.rule.startswith("/api/v0/"))
    assert_listed(document, rules)
    assert all(path.startswith("/api/v0/") for path in document["paths"]), \
        "other families (and /status) do not belong in /api.json"


def test_every_route_of_every_family_is_in_openapi_json(app, client):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    rules = family_rules(app, lambda rule: rule.rule.startswith("/api/")
                         or rule.endpoint.startswith(API_BLUEPRINTS) or rule.rule in EXTRA_PATHS)
    assert {"/api/v0/stats/total", "/api/auth/login", "/api/sites", "/api/collect",
            "/collect"} <= {rule.rule for rule in rules}
    assert_listed(document, rules)
    tags = {op["tags"][0] for item in document["paths"].values() for op in item.values()}
    assert {"GoatCounter", "Umami", "Basic", "Tracking"} <= tags


@pytest.mark.parametrize("version", [SWAGGER, OPENAPI])
def test_documents_validate_and_every_schema_name_resolves(app, version):
    document, problems = build(app, version)
    validate(document)  # raises on an invalid document
    unresolved = [p for p in problems if "no schema named" in p or "does not parse" in p]
    assert not unresolved, unresolved
    served = json.loads(app.test_client().get("/api.json" if version == SWAGGER
                                              else "/openapi.json").data)
    assert served == json.loads(json.dumps(document))


def test_api_json_uses_the_schemas_that_validate_requests(client):
    from app.api.goatcounter.stats_schemas import PathsArgs, TotalResponse
    document = client.get("/api.json").get_json()
    paths = document["paths"]["/api/v0/paths"]["get"]
    assert {p["name"] for p in paths["parameters"]} == set(PathsArgs().fields)
    assert all(p["in"] == "query" and "type" in p for p in paths["parameters"])
    total = document["paths"]["/api/v0/stats/total"]["get"]["responses"]["200"]
    assert total["schema"] == {"$ref": "#/definitions/TotalResponse"}
    assert set(document["definitions"]["TotalResponse"]["properties"]) == set(
        TotalResponse().fields)
    refs = document["paths"]["/api/v0/stats/hits/{path_id}"]["get"]
    path_id = next(p for p in refs["parameters"] if p["in"] == "path")
    assert path_id == {"in": "path", "name": "path_id", "required": True, "type": "integer"}


def test_schema_names_that_clash_across_families_get_the_family_name(monkeypatch):
    one = types.ModuleType("fakeapi_one.schemas")
    two = types.ModuleType("fakeapi_two.schemas")
    for module in (one, two):
        shared = type("RangeArgs", (Schema,), {"__module__": module.__name__,
                                                "start": fields.Integer()})
        module.RangeArgs = shared
    one.OnlyHere = type("OnlyHere", (Schema,), {"__module__": one.__name__})
    one._Private = type("_Private", (Schema,), {"__module__": one.__name__})
    for module in (one, two):
        monkeypatch.setitem(sys.modules, module.__name__, module)
    names = component_names([Family("One", "fakeapi_one", ""), Family("Two", "fakeapi_two", "")])
    assert names == {one.RangeArgs: "OneRangeArgs", two.RangeArgs: "TwoRangeArgs",
                     one.OnlyHere: "OnlyHere"}


@pytest.fixture
def late_app(database_url, tmp_path):
    """A fresh app with routes added after the families registered theirs, before the first
    request: the documents must pick them up without any edit to the OpenAPI code."""
    app = make_app(database_url, tmp_path)

    def later(thing_id):
        """Later: a route that landed after the OpenAPI code was written.

        It has no YAML yet."""

    def later_documented():
        """A documented route, written the OpenAPI 3 way.
        ---
        post:
          summary: Paths of a site (the <b>real</b> schema)
          requestBody: {content: {application/json: {schema: PathsArgs}}}
          responses:
            200: {content: {application/json: {schema: PathsResponse}}}
        """

    def later_swagger():
        """Written the OpenAPI 2.0 way <script>alert("docstring")</script>.
        ---
        get:
          parameters:
          - {in: query, name: size, type: integer}
          responses:
            200: {description: the totals, schema: TotalResponse}
            404: {description: "<img src=x onerror=alert(1)>"}
        """

    def later_broken(site_id):
        """Refers to a schema nobody wrote.
        ---
        get:
          parameters: [{in: path, name: id, required: true, schema: {type: integer}}]
          responses:
            200: {content: {application/json: {schema: NoSuchSchema}}}
        """

    def later_duplicate(key):
        """Names one parameter twice, which apispec refuses.
        ---
        get:
          parameters:
          - {in: query, name: q, schema: {type: string}}
          - {in: query, name: q, schema: {type: integer}}
        """

    def later_list():
        """YAML that is no mapping.
        ---
        - get
        """

    import app.api.goatcounter.stats as stats_module  # the docstrings' schema names resolve there
    for view in (later, later_documented, later_swagger, later_broken, later_duplicate,
                 later_list):
        view.__module__ = stats_module.__name__
    app.add_url_rule("/api/v0/later/<int:thing_id>", "goatcounter_api.later", later,
                     methods=["GET", "DELETE"])
    app.add_url_rule("/api/v0/later-doc", "goatcounter_api.later_doc", later_documented,
                     methods=["POST"])
    app.add_url_rule("/api/v0/later-2", "goatcounter_api.later_2", later_swagger)
    app.add_url_rule("/api/v0/broken/<site_id>", "goatcounter_api.broken", later_broken)
    app.add_url_rule("/api/unclaimed", "unclaimed", later_documented, methods=["POST"])
    app.add_url_rule("/api/v0/twice/<key>", "goatcounter_api.twice", later_duplicate)
    app.add_url_rule("/api/v0/bounded/<int(min=1, max=99):number>", "goatcounter_api.bounded",
                     later_list)
    app.add_url_rule("/api/v0/listed", "goatcounter_api.listed", later_list)
    return app


def test_routes_that_land_later_are_documented(late_app):
    client = late_app.test_client()
    swagger, openapi = client.get("/api.json").get_json(), client.get("/openapi.json").get_json()
    validate(swagger)
    validate(openapi)
    for document in (swagger, openapi):
        item = document["paths"]["/api/v0/later/{thing_id}"]
        assert set(item) == {"get", "delete"}
        assert item["get"][UNDOCUMENTED] is True
        assert item["get"]["summary"] == "Later: a route that landed after the OpenAPI code was written."
        assert "no YAML yet" in item["get"]["description"]
        assert [p["name"] for p in item["delete"]["parameters"]] == ["thing_id"]
    assert swagger["paths"]["/api/v0/later/{thing_id}"]["get"]["parameters"][0]["type"] == "integer"
    thing_id = openapi["paths"]["/api/v0/later/{thing_id}"]["get"]["parameters"][0]
    assert thing_id["schema"] == {"type": "integer", "minimum": 0}  # werkzeug's int: no sign
    assert "/api/unclaimed" in openapi["paths"] and "/api/unclaimed" not in swagger["paths"]
    assert openapi["paths"]["/api/unclaimed"]["post"]["tags"] == ["Other"]


def test_either_docstring_form_gives_both_documents(late_app):
    client = late_app.test_client()
    swagger, openapi = client.get("/api.json").get_json(), client.get("/openapi.json").get_json()
    # OpenAPI 3 form in, 2.0 out: the request body is a body parameter, schemas inline.
    post = swagger["paths"]["/api/v0/later-doc"]["post"]
    assert post["parameters"] == [{"in": "body", "name": "body", "required": False,
                                   "schema": {"$ref": "#/definitions/PathsArgs"}}]
    assert post["consumes"] == ["application/json"]
    assert post["responses"]["200"] == {"description": "OK",
                                        "schema": {"$ref": "#/definitions/PathsResponse"}}
    # OpenAPI 2.0 form in, 3 out: parameter types in a schema, response content.
    get = openapi["paths"]["/api/v0/later-2"]["get"]
    assert get["parameters"] == [{"in": "query", "name": "size", "schema": {"type": "integer"}}]
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/TotalResponse"}
    assert get["security"] == [{"token": []}, {"basic": []}]  # the family's credentials


def test_docstring_mistakes_are_reported_and_the_documents_stay_valid(late_app):
    with late_app.app_context():
        for version in (SWAGGER, OPENAPI):
            document, problems = build(late_app, version)
            validate(document)
            assert any("no schema named 'NoSuchSchema'" in p for p in problems), problems
            assert any("path parameter 'id' is not in the route" in p for p in problems)
            broken = document["paths"]["/api/v0/broken/{site_id}"]["get"]
            assert [p["name"] for p in broken["parameters"]] == ["site_id"]
            assert any("apispec refused" in p and "/api/v0/twice/{key}" in p for p in problems)
            twice = document["paths"]["/api/v0/twice/{key}"]["get"]
            assert twice[UNDOCUMENTED] and [p["name"] for p in twice["parameters"]] == ["key"]
            assert any("/api/v0/listed" in p and "does not parse" in p for p in problems)
            assert document["paths"]["/api/v0/listed"]["get"][UNDOCUMENTED]
            bounded = document["paths"]["/api/v0/bounded/{number}"]["get"]["parameters"][0]
            bounded = bounded["schema"] if version == OPENAPI else bounded
            assert (bounded["type"], bounded["minimum"], bounded["maximum"]) == ("integer", 1, 99)


def test_the_reference_page_lists_every_operation_and_escapes_what_it_shows(late_app):
    client = late_app.test_client()
    openapi = client.get("/openapi.json").get_json()
    response = client.get("/api.html")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for path, item in openapi["paths"].items():
        for method in item:
            assert f"{method.upper()} {path}" in page, (method, path)
    assert 'href="#schema-TotalResponse"' in page and 'id="schema-TotalResponse"' in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#34;docstring&#34;)" in page
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "<b>real</b>" not in page and "&lt;b&gt;real&lt;/b&gt;" in page
    scripts = re.findall(r"<script[^>]*>", page)
    assert scripts and all(re.search(r'src="/static/', tag) for tag in scripts), scripts
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert 'href="/api.json"' in page and 'href="/openapi.json"' in page


def test_the_documents_are_public_json_for_api_tools(client):
    for url in ("/api.json", "/openapi.json"):
        response = client.get(url)
        assert response.status_code == 200 and response.mimetype == "application/json"
        assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_the_ui_links_the_reference_page(client, user):
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/api.html"' in page


def test_flask_openapi_writes_the_documents(app, tmp_path):
    runner = app.test_cli_runner()
    target = tmp_path / "api.json"
    result = runner.invoke(args=["openapi", "--openapi", "2", "--output", str(target)])
    assert result.exit_code == 0, result.output
    document = json.loads(target.read_text())
    assert document["swagger"] == "2.0" and "/api/v0/stats/total" in document["paths"]
    result = runner.invoke(args=["openapi"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["openapi"].startswith("3.")
