"""Building the OpenAPI documents with apispec: every route of the families, its operations
from the view's docstring YAML (written the OpenAPI 3 way) with schema names resolved to the
marshmallow classes, and a generic operation for a view that has no YAML yet."""
import copy
import http
import inspect
import sys
from collections import defaultdict

import yaml
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from apispec.yaml_utils import load_operations_from_docstring

from app.api.openapi.families import (ARGUMENT, FAMILIES, FIELD_TYPES, SECURITY_SCHEMES,
                                      api_routes, is_schema)
from app.api.openapi.swagger import fix_parameters, from_swagger, to_swagger

SWAGGER, OPENAPI = "2.0", "3.0.3"
METHODS = ("get", "put", "post", "patch", "delete")
UNDOCUMENTED = "x-ibex-undocumented"  # a route whose view has no YAML in its docstring yet
_CONVERTERS = {"int": {"type": "integer"}, "float": {"type": "number"},
               "uuid": {"type": "string", "format": "uuid"}}
# Keys whose value is a schema (a class name in a docstring), a map or a list of schemas.
_SCHEMA_KEYS, _SCHEMA_MAPS, _SCHEMA_LISTS = ({"schema", "items", "additionalProperties", "not"},
                                             {"properties"}, {"allOf", "anyOf", "oneOf"})
_LITERAL_KEYS = {"example", "examples", "default", "enum"}


def document(app, version):
    """The OpenAPI document (a dict) of ``version`` (SWAGGER or OPENAPI), built once per app."""
    cache = app.extensions.setdefault("ibex_openapi", {})
    if version not in cache:
        cache[version] = build(app, version)[0]
    return cache[version]


def build(app, version):
    """(document, problems): OpenAPI 2.0 covers GoatCounter's /api/v0, OpenAPI 3 every family.
    ``problems`` lists what the docstrings got wrong (unknown schema names, path parameters the
    route does not have, YAML errors); the document stays valid regardless."""
    swagger = version == SWAGGER
    families = FAMILIES[:1] if swagger else FAMILIES
    names = component_names(families)
    plugin = MarshmallowPlugin(schema_name_resolver=lambda schema: _schema_name(names, schema))
    spec = APISpec(title="Ibex", version="1.0", openapi_version=version, plugins=[plugin],
                   info={"description": "Ibex speaks the APIs of GoatCounter, Umami (v1.17) "
                                        "and a Basic analytics server."})
    for dotted, types in FIELD_TYPES.items():
        module_name, _, class_name = dotted.rpartition(".")
        field_class = getattr(sys.modules.get(module_name), class_name, None)
        if field_class is not None:
            plugin.map_to_openapi_type(field_class, *types)
    for name, (openapi3, openapi2) in SECURITY_SCHEMES.items():
        if (openapi2 if swagger else openapi3) is not None:
            spec.components.security_scheme(name, openapi2 if swagger else openapi3)
    for family in families:
        spec.tag({"name": family.name, "description": family.description})
    for schema_class, name in names.items():
        spec.components.schema(name, schema=schema_class)
    problems, seen = [], set()
    schemes = {name for name, forms in SECURITY_SCHEMES.items() if forms[0 if not swagger else 1]}
    by_path = defaultdict(dict)
    for route in api_routes(app, families):
        if swagger and not route.rule.rule.startswith(families[0].prefixes()):
            continue  # /api.json is the /api/v0 family only (not /status)
        for method, operation in _operations(app, route, names, problems).items():
            _clean_security(operation, schemes, problems, f"{method.upper()} {route.path}")
            operation["operationId"] = _unique(seen, f"{route.rule.endpoint}.{method}")
            by_path[route.path][method] = to_swagger(operation) if swagger else operation
    for path, operations in by_path.items():
        try:
            spec.path(path=path, operations=operations)
        except Exception as exc:  # noqa: BLE001 — one docstring apispec cannot use (duplicate
            # parameters, a schema it cannot convert) must not take the documents down
            problems.append(f"{path}: apispec refused the docstring's operations: {exc!r}")
            spec.path(path=path, operations={m: _bare(op) for m, op in operations.items()})
    result = spec.to_dict()
    if swagger:
        fix_parameters(result)
    return result, problems


def component_names(families):
    """{schema class: component name}: the class name, prefixed with the family's name where
    two families (and then the module, where two modules of one family) use the same name."""
    owners = {}
    for family in families:
        for schema_class in family.schemas():
            owners.setdefault(schema_class, family)
    by_name = defaultdict(list)
    for schema_class, family in owners.items():
        by_name[schema_class.__name__].append((schema_class, family))
    names = {}
    for name, entries in by_name.items():
        for schema_class, family in entries:
            prefix = ""
            if len(entries) > 1:
                prefix = family.name
                if sum(other is family for _, other in entries) > 1:
                    prefix += schema_class.__module__.rsplit(".", 1)[-1].title().replace("_", "")
            names[schema_class] = prefix + name
    return names


def _schema_name(names, schema):
    schema_class = resolve_schema_cls(schema)
    return names.get(schema_class, schema_class.__name__)


def _unique(seen, name):
    candidate, number = name, 1
    while candidate in seen:
        number += 1
        candidate = f"{name}{number}"
    seen.add(candidate)
    return candidate


def _operations(app, route, names, problems):
    """{method: operation} of one route: the view's docstring YAML (the methods the route
    serves), else the family's own, else a generic one so the route is listed all the same."""
    view = app.view_functions.get(route.rule.endpoint)
    methods = [m for m in METHODS if m.upper() in (route.rule.methods or ())]
    docstring = inspect.getdoc(view) or ""
    where = f"{route.rule.rule} ({route.rule.endpoint})"
    try:
        operations = load_operations_from_docstring(docstring)
    except (yaml.YAMLError, AttributeError) as exc:  # AttributeError: YAML that is no mapping
        problems.append(f"{where}: the docstring's YAML does not parse: {exc}")
        operations = {}
    operations = {m: copy.deepcopy(op) for m, op in operations.items()
                  if m in methods and isinstance(op, dict)}
    if not operations:
        operations = {m: copy.deepcopy(op) for m, op in
                      route.family.operations.get(route.rule.rule, {}).items() if m in methods}
    documented = bool(operations)
    if not documented:
        operations = {m: {UNDOCUMENTED: True, "responses": {"default": {
            "description": "See the family's specification; this route has no OpenAPI "
                           "description yet."}}} for m in methods}
    text = docstring.split("---", 1)[0].strip()
    summary, _, description = text.partition("\n")
    lookup = _schema_lookup(view, route.family, names)
    for method, operation in operations.items():
        here = f"{method.upper()} {where}"
        from_swagger(operation, problems, here)
        if summary and "summary" not in operation:
            operation["summary"] = summary.strip()
        elif "summary" not in operation:
            operation["summary"] = f"{method.upper()} {route.path}"
        if text and "description" not in operation and operation["summary"] != text:
            operation["description"] = text if description.strip() else summary.strip()
        operation["tags"] = [route.family.name]
        operation.setdefault("security", copy.deepcopy(route.family.security))
        _path_parameters(operation, route, problems, here)
        _responses(operation)
        _resolve_names(operation, lookup, problems, here)
    return operations


def _bare(operation):
    """What stays of an operation apispec refused: its words and its path parameters."""
    bare = {key: operation[key] for key in ("summary", "description", "tags", "security",
                                            "operationId") if key in operation}
    parameters = [p for p in operation.get("parameters", []) if p.get("in") == "path"]
    by_name = {p["name"]: p for p in parameters}  # the first of duplicates goes
    return {**bare, UNDOCUMENTED: True, **({"parameters": list(by_name.values())} if by_name
                                           else {}),
            "responses": {"default": {"description": "Not described: see the family's "
                                                     "specification."}}}


def _path_parameters(operation, route, problems, where):
    """The route's own path parameters, typed by their converters: a docstring's path
    parameter the route does not have is dropped, one it lacks is added."""
    arguments = {name: _converter_schema(converter, options)
                 for converter, options, name in ARGUMENT.findall(route.rule.rule)}
    parameters = [p for p in operation.get("parameters") or [] if isinstance(p, dict)]
    kept = []
    for parameter in parameters:
        if parameter.get("in") == "path" and parameter.get("name") not in arguments:
            problems.append(f"{where}: path parameter {parameter.get('name')!r} is not in the "
                            "route; documented as the route's own instead")
            continue
        kept.append(parameter)
    declared = {p.get("name"): p for p in kept if p.get("in") == "path"}
    for name, schema in arguments.items():
        if name not in declared:
            kept.append({"in": "path", "name": name, "required": True, "schema": schema})
        elif (declared[name].get("schema") or {}).get("type") == schema["type"]:
            for bound in ("minimum", "maximum"):  # the converter's bounds are the route's
                if bound in schema:
                    declared[name]["schema"].setdefault(bound, schema[bound])
    if kept:
        operation["parameters"] = kept


def _converter_schema(converter, options):
    """The schema of a path variable with werkzeug's ``converter(options)``: int and float
    match no sign unless signed=True, and take min/max."""
    schema = dict(_CONVERTERS.get(converter, {"type": "string"}))
    if schema["type"] in ("integer", "number"):
        pairs = dict(part.split("=", 1) for part in options.replace(" ", "").split(",")
                     if "=" in part)
        if pairs.get("signed") != "True":
            schema["minimum"] = 0
        for key, bound in (("min", "minimum"), ("max", "maximum")):
            try:
                schema[bound] = int(pairs[key])
            except (KeyError, ValueError):
                pass
    return schema


def _responses(operation):
    responses = operation.get("responses")
    if not isinstance(responses, dict) or not responses:
        responses = {"default": {"description": "Response"}}
    for code, response in list(responses.items()):
        if not isinstance(response, dict):
            response = {"description": str(response)}
        if "description" not in response:
            try:
                response["description"] = http.HTTPStatus(int(code)).phrase
            except ValueError:
                response["description"] = "Response"
        responses[str(code)] = response
        if str(code) != code:
            del responses[code]
    operation["responses"] = responses


def _clean_security(operation, schemes, problems, where):
    """Security requirements may only name schemes the document defines (OpenAPI 2.0 has no
    cookie scheme); a name no document knows is a problem."""
    requirements = operation.get("security")
    clean = []
    for requirement in requirements if isinstance(requirements, list) else []:
        requirement = requirement if isinstance(requirement, dict) else {}
        for name in sorted(set(requirement) - set(SECURITY_SCHEMES)):
            problems.append(f"{where}: unknown security scheme {name!r}")
        if set(requirement) <= schemes:
            clean.append(requirement)
    operation["security"] = clean


def _schema_lookup(view, family, names):
    """Schema class by name, as a docstring of ``view`` means it: the view module's globals,
    then the modules it imports, then the family's schemas (a name unique there)."""
    module = sys.modules.get(getattr(view, "__module__", ""), None)
    scope = dict(vars(module)) if module else {}
    family_classes = defaultdict(set)
    for schema_class in names:
        if schema_class.__module__.startswith(family.package):
            family_classes[schema_class.__name__].add(schema_class)

    def lookup(name):
        if is_schema(scope.get(name)):
            return scope[name]
        imported = {getattr(value, name) for value in scope.values()
                    if inspect.ismodule(value) and is_schema(getattr(value, name, None))}
        for found in (imported, family_classes.get(name, set())):
            if len(found) == 1:
                return next(iter(found))
        return None
    return lookup


def _resolve_names(node, lookup, problems, where):
    """Replace schema names (strings) in an operation with their classes, for apispec."""
    def resolve(value):
        if not isinstance(value, str):
            _resolve_names(value, lookup, problems, where)
            return value
        schema_class = lookup(value)
        if schema_class is None:
            problems.append(f"{where}: no schema named {value!r}")
            return {"description": f"unknown schema {value}"}
        return schema_class
    if isinstance(node, list):
        for item in node:
            _resolve_names(item, lookup, problems, where)
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        if key in _LITERAL_KEYS:
            continue
        if key in _SCHEMA_KEYS:
            node[key] = resolve(value)
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            for name in value:
                value[name] = resolve(value[name])
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            node[key] = [resolve(item) for item in value]
        else:
            _resolve_names(value, lookup, problems, where)


