"""The API families the OpenAPI documents describe: which routes of ``app.url_map`` each owns
(its package's PREFIX/PREFIXES and exact paths), the schemas its docstrings name, its
credentials, and the custom marshmallow fields' OpenAPI types."""
import re
import sys
from dataclasses import dataclass, field

from marshmallow import Schema

# A Flask rule's variable: <name>, <converter:name> or <converter(arguments):name>.
ARGUMENT = re.compile(r"<(?:(\w+)(?:\(([^>]*)\))?:)?(\w+)>")
# Custom marshmallow fields of the families, as OpenAPI types (a field that is gone is skipped).
FIELD_TYPES = {
    "app.api.goatcounter.schemas.Bool": ("boolean", None),
    "app.api.goatcounter.schemas.Time": ("string", "date-time"),
    "app.api.goatcounter.schemas.StringList": ("string", None),
    "app.api.goatcounter.schemas.IdList": ("string", None),
    "app.api.umami.schemas.Timestamp": ("string", "date-time"),
    "app.api.basic.schemas.Day": ("string", "date"),
    "app.api.basic.schemas.Flag": ("boolean", None),
    "app.api.basic.schemas.Rfc3339": ("string", "date-time"),
    "app.api.basic.schemas.WholeNumber": ("integer", None),
}
SECURITY_SCHEMES = {  # name: (OpenAPI 3 form, OpenAPI 2.0 form or None)
    "token": ({"type": "http", "scheme": "bearer",
               "description": "A GoatCounter API token: Authorization: Bearer <token>"},
              {"type": "apiKey", "in": "header", "name": "Authorization",
               "description": "A GoatCounter API token: Authorization: Bearer <token>"}),
    "bearer": ({"type": "http", "scheme": "bearer",
                "description": "An API token: Authorization: Bearer <token>"},
               {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "An API token: Authorization: Bearer <token>"}),
    "basic": ({"type": "http", "scheme": "basic",
               "description": "HTTP Basic authentication with the API token as the password"},
              {"type": "basic",
               "description": "HTTP Basic authentication with the API token as the password"}),
    "umamiAuth": ({"type": "apiKey", "in": "cookie", "name": "umami.auth",
                   "description": "The login token /api/auth/login sets as a cookie"}, None),
}


@dataclass
class Family:
    """An API family: its tag, the package whose schemas its docstrings name, the paths it owns
    (the package's PREFIX/PREFIXES, plus exact ``paths``), the credentials its operations take
    unless a docstring says otherwise, and operations for views that carry none."""
    name: str
    package: str
    description: str
    security: list = field(default_factory=list)
    paths: tuple = ()
    operations: dict = field(default_factory=dict)
    extra_prefixes: tuple = ()

    def prefixes(self):
        module = sys.modules.get(self.package)
        prefixes = getattr(module, "PREFIXES", None)
        if prefixes is None and getattr(module, "PREFIX", None):
            prefixes = (module.PREFIX + "/",)
        return tuple(prefixes or ()) + self.extra_prefixes

    def schemas(self):
        """Every public marshmallow Schema class defined in the family's modules."""
        found = []
        for name, module in sorted(list(sys.modules.items())):
            if module is None or not (name == self.package or name.startswith(self.package + ".")):
                continue
            found.extend(value for value in list(vars(module).values())
                         if is_schema(value) and value.__module__ == name
                         and not value.__name__.startswith("_"))
        return found


def is_schema(value):
    return isinstance(value, type) and issubclass(value, Schema)


_JSON = "application/json"
_TEXT = {"text/plain": {"schema": {"type": "string"}}}
TRACKING_OPERATIONS = {
    "/api/collect": {"post": {
        "summary": "Record an Umami pageview or event (the umami.js tracker)",
        "requestBody": {"required": True, "content": {_JSON: {"schema": {
            "type": "object", "required": ["type", "payload"], "properties": {
                "type": {"type": "string", "enum": ["pageview", "event"]},
                "payload": {"type": "object", "required": ["website"], "properties": {
                    "website": {"type": "string", "format": "uuid"},
                    "hostname": {"type": "string"}, "screen": {"type": "string"},
                    "language": {"type": "string"}, "url": {"type": "string"},
                    "referrer": {"type": "string"}, "cache": {"type": "string"},
                    "event_type": {"type": "string"}, "event_value": {"type": "string"}}}}}}}},
        "responses": {"200": {"description": "recorded (or filtered): the cache token, or {}",
                              "content": {_JSON: {"schema": {}}}},
                      "400": {"description": "invalid payload or unknown website",
                              "content": _TEXT}}}},
    "/collect": {"post": {
        "summary": "Record a Basic pageview (the track.js tracker); Origin or Referer names "
                   "the site",
        "requestBody": {"required": True, "content": {_JSON: {"schema": {
            "type": "object", "required": ["path"], "properties": {
                "path": {"type": "string"}, "referrer": {"type": "string"},
                "screen": {"type": "string", "example": "1920x1080"}}}}}},
        "responses": {"204": {"description": "recorded, or ignored (unknown site, ignored IP)"},
                      "400": {"description": "no Origin or Referer, or invalid JSON",
                              "content": {_JSON: {"schema": {"type": "object", "properties": {
                                  "error": {"type": "string"}}}}}}}}},
}
FAMILIES = (
    Family("GoatCounter", "app.api.goatcounter",
           "GoatCounter's API v0: an API token as Authorization: Bearer <token> (or as the "
           "password of HTTP Basic authentication); errors as {\"error\": …} or "
           "{\"errors\": {…}}.", [{"token": []}, {"basic": []}], paths=("/status",)),
    Family("Umami", "app.api.umami",
           "Umami's API (v1.17): log in with /api/auth/login, then send the token as the "
           "umami.auth cookie or as Authorization: Bearer <token>; errors in plain text.",
           [{"bearer": []}, {"umamiAuth": []}]),
    Family("Basic", "app.api.basic",
           "The Basic analytics API: an API token of an admin as Authorization: Bearer <token>; "
           "errors as {\"error\": \"…\"}.", [{"bearer": []}]),
    Family("Tracking", "app.tracking",
           "Endpoints the tracking scripts post hits to; no authentication.", [],
           paths=tuple(TRACKING_OPERATIONS), operations=TRACKING_OPERATIONS),
    # Anything else under /api/ (a route no family claims yet) is listed all the same.
    Family("Other", "app.api.other", "Routes under /api/ that no family claims.", [],
           extra_prefixes=("/api/",)),
)


@dataclass
class Route:
    family: Family
    rule: object  # werkzeug Rule
    path: str  # the OpenAPI path template


def api_routes(app, families=FAMILIES):
    """The routes of ``app`` that belong to one of ``families``, in path order. An exact path
    wins, then the longest prefix."""
    claims = [(path, family, True) for family in families for path in family.paths]
    claims += [(prefix, family, False) for family in families for prefix in family.prefixes()]
    routes = []
    for rule in app.url_map.iter_rules():
        matches = [(len(path), exact, family) for path, family, exact in claims
                   if (rule.rule == path if exact else rule.rule.startswith(path))]
        if matches:
            family = max(matches, key=lambda match: (match[1], match[0]))[2]
            routes.append(Route(family, rule, ARGUMENT.sub(r"{\3}", rule.rule)))
    return sorted(routes, key=lambda route: (route.path, route.rule.endpoint))


