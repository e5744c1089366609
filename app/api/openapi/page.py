"""The API reference page's model: /openapi.json regrouped by family for the template, each
type as parts (plain text, or a link to a schema). Values stay text; the template escapes them."""
from app.api.openapi.documents import METHODS, UNDOCUMENTED


def page_model(document):
    """{"info", "sections", "schemas"} of an OpenAPI 3 document."""
    sections = {tag["name"]: dict(tag, operations=[]) for tag in document.get("tags", [])}
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            tag = (operation.get("tags") or ["Other"])[0]
            section = sections.setdefault(tag, {"name": tag, "operations": []})
            section["operations"].append(_operation(path, method, operation))
    schemas = [_schema(name, schema) for name, schema in
               sorted(document.get("components", {}).get("schemas", {}).items())]
    return {"info": document.get("info", {}), "schemas": schemas,
            "sections": [section for section in sections.values() if section["operations"]]}


def _operation(path, method, operation):
    body = (operation.get("requestBody") or {}).get("content") or {}
    return {
        "anchor": "op-" + operation.get("operationId", f"{method}-{path}"),
        "method": method.upper(), "path": path,
        "summary": operation.get("summary", ""), "description": operation.get("description", ""),
        "undocumented": bool(operation.get(UNDOCUMENTED)),
        "security": [" and ".join(sorted(requirement)) or "none"
                     for requirement in operation.get("security", [])],
        "parameters": [{"name": p.get("name", ""), "in": p.get("in", ""),
                        "required": bool(p.get("required")),
                        "description": p.get("description", ""),
                        "type": type_parts(p.get("schema"))}
                       for p in operation.get("parameters", [])],
        "body": [{"mime": mime, "type": type_parts((media or {}).get("schema"))}
                 for mime, media in body.items()],
        "responses": [{"code": code, "description": response.get("description", ""),
                       "content": [{"mime": mime, "type": type_parts((media or {}).get("schema"))}
                                   for mime, media in (response.get("content") or {}).items()]}
                      for code, response in operation.get("responses", {}).items()],
    }


def _schema(name, schema):
    required = set(schema.get("required", []))
    return {"name": name, "anchor": "schema-" + name, "description": schema.get("description", ""),
            "properties": [{"name": prop, "required": prop in required,
                            "description": (value or {}).get("description", ""),
                            "type": type_parts(value)}
                           for prop, value in (schema.get("properties") or {}).items()]}


def type_parts(schema):
    """A schema as a list of {"text": …} and {"ref": schema name} parts."""
    if not isinstance(schema, dict) or not schema:
        return [{"text": "any"}]
    if "$ref" in schema:
        return [{"ref": schema["$ref"].rsplit("/", 1)[-1]}]
    for key, joiner in (("oneOf", " or "), ("anyOf", " or "), ("allOf", " and ")):
        if isinstance(schema.get(key), list):
            parts = []
            for index, option in enumerate(schema[key]):
                parts += ([{"text": joiner}] if index else []) + type_parts(option)
            return parts
    kind = schema.get("type") or "any"
    if kind == "array":
        return [{"text": "array of "}] + type_parts(schema.get("items"))
    if kind == "object" and isinstance(schema.get("properties"), dict):
        parts = [{"text": "object {"}]
        for index, (name, value) in enumerate(schema["properties"].items()):
            parts += [{"text": (", " if index else " ") + name + ": "}] + type_parts(value)
        return parts + [{"text": " }"}]
    text = kind + (f" ({schema['format']})" if schema.get("format") else "")
    if isinstance(schema.get("enum"), list):
        text += ": " + " | ".join(str(value) for value in schema["enum"])
    if schema.get("nullable"):
        text += " or null"
    return [{"text": text}]
