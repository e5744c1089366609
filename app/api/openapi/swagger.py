"""An operation in OpenAPI 2.0's and in OpenAPI 3's form: docstrings use either (body
parameters and inline response schemas, or requestBody and content); the builder brings them to
3's form, and to 2.0's for /api.json."""
JSON = "application/json"
# A non-body OpenAPI 2.0 parameter's type keywords, which OpenAPI 3 keeps in its schema.
_TYPE_KEYS = ("type", "format", "items", "enum", "default", "minimum", "maximum", "pattern",
              "minLength", "maxLength", "minItems", "maxItems", "uniqueItems", "multipleOf",
              "exclusiveMinimum", "exclusiveMaximum")
_PARAMETER_KEYS = {"name", "in", "description", "required", "deprecated", "allowEmptyValue",
                   "style", "explode", "allowReserved", "schema", "example", "examples",
                   "content"}
_RESPONSE_KEYS = {"description", "headers", "content", "links"}


def from_swagger(operation, problems, where):
    """``operation`` (a docstring's, either form) in OpenAPI 3's form. Keys neither form has
    (often a comma in a flow-style YAML value) are dropped and reported in ``problems``."""
    consumes = operation.pop("consumes", None) or [JSON]
    produces = operation.pop("produces", None) or [JSON]
    parameters, form = [], {}
    for parameter in operation.get("parameters") or []:
        if not isinstance(parameter, dict):
            continue
        if parameter.get("in") == "body":
            operation.setdefault("requestBody", {
                "required": bool(parameter.get("required")),
                "content": {mime: {"schema": parameter.get("schema", {})} for mime in consumes},
                **({"description": parameter["description"]} if "description" in parameter
                   else {})})
            continue
        if parameter.get("in") == "formData":
            form[parameter.get("name", "")] = _schema_of(parameter)
            continue
        if "schema" not in parameter and "content" not in parameter:
            parameter = {**parameter, "schema": _schema_of(parameter)}
        for key in sorted(set(parameter) - _PARAMETER_KEYS):
            if not key.startswith("x-"):
                if key not in _TYPE_KEYS:
                    problems.append(f"{where}: parameter {parameter.get('name')!r} has an "
                                    f"unknown key {key!r}")
                parameter = {k: v for k, v in parameter.items() if k != key}
        parameters.append(parameter)
    if form:
        operation.setdefault("requestBody", {"content": {
            "application/x-www-form-urlencoded": {"schema": {"type": "object",
                                                             "properties": form}}}})
    if parameters or "parameters" in operation:
        operation["parameters"] = parameters
    for code, response in (operation.get("responses") or {}).items():
        if not isinstance(response, dict):
            continue
        if "schema" in response:
            response.setdefault("content", {mime: {"schema": response["schema"]}
                                            for mime in produces})
        for header in (response.get("headers") or {}).values():
            if isinstance(header, dict) and "schema" not in header:
                header["schema"] = _schema_of(header)
                for key in _TYPE_KEYS:
                    header.pop(key, None)
        for key in [key for key in response if key not in _RESPONSE_KEYS]:
            if key.startswith("x-"):
                continue
            if key not in ("schema", "examples"):
                problems.append(f"{where}: response {code} has an unknown key {key!r} "
                                "(a comma in a flow-style YAML value? quote it)")
                if response[key] is None and isinstance(response.get("description"), str):
                    response["description"] += f", {key}"  # what the comma split off
            del response[key]
    return operation


def _schema_of(parameter):
    return {key: parameter[key] for key in _TYPE_KEYS if key in parameter} or {"type": "string"}



def to_swagger(operation):
    """An operation written the OpenAPI 3 way (as the docstrings are) in OpenAPI 2.0's form:
    parameter types inline, the request body as a body parameter, response schemas inline."""
    operation = dict(operation)
    parameters = []
    for parameter in operation.get("parameters", []):
        if parameter.get("in") != "body" and isinstance(parameter.get("schema"), dict):
            parameter = {**{k: v for k, v in parameter.items() if k != "schema"},
                         **_swagger_type(parameter["schema"])}
        parameters.append(parameter)
    body = operation.pop("requestBody", None)
    content = body.get("content") if isinstance(body, dict) else None
    if isinstance(content, dict) and content:
        operation["consumes"] = list(content)
        media = next(iter(content.values())) or {}
        parameters.append({"in": "body", "name": "body", "required": bool(body.get("required")),
                           "schema": media.get("schema", {}),
                           **({"description": body["description"]} if "description" in body
                              else {})})
    if parameters:
        operation["parameters"] = parameters
    produces = []
    for response in operation["responses"].values():
        for mime, media in (response.pop("content", None) or {}).items():
            produces += [mime] if mime not in produces else []
            if isinstance(media, dict) and "schema" in media:
                response.setdefault("schema", media["schema"])
        for header in (response.get("headers") or {}).values():
            if isinstance(header, dict) and isinstance(header.get("schema"), dict):
                header.update(_swagger_type(header.pop("schema")))
    if produces:
        operation["produces"] = produces
    for key in ("callbacks", "servers"):
        operation.pop(key, None)
    return operation


def _swagger_type(schema):
    """A schema as the inline type of a non-body parameter or header: a type is required,
    objects do not exist there, arrays need typed items."""
    schema = {k: v for k, v in schema.items() if k not in ("nullable", "example")}
    if schema.get("type") in (None, "object"):
        schema["type"] = "string"
        schema.pop("properties", None)
    if schema["type"] == "array":
        schema["items"] = _swagger_type(schema.get("items") or {})
    return schema


def fix_parameters(document):
    """What apispec writes for marshmallow fields that OpenAPI 2.0 cannot say: parameters of a
    field it has no type for, and ``default: null`` (2.0 has no null)."""
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if parameter.get("in") != "body":
                    parameter.update(_swagger_type(parameter))
    _drop_null_defaults(document)


def _drop_null_defaults(node):
    if isinstance(node, list):
        for item in node:
            _drop_null_defaults(item)
    elif isinstance(node, dict):
        if "default" in node and node["default"] is None:
            del node["default"]
        for key, value in node.items():
            if key not in ("example", "examples", "enum"):
                _drop_null_defaults(value)
