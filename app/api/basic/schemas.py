"""Marshmallow schemas of the Basic API family: the JSON bodies and query strings it accepts
and the objects it answers with (spec basic.md). Every field's error text is the family's short
message ("missing domain", "invalid date"), since an error body holds a single string."""
import re
from datetime import UTC, date

from marshmallow import EXCLUDE, Schema, fields
from marshmallow import ValidationError as SchemaError

MAX_PAGE = 10_000      # rows per page when a client pages with `limit`
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


class Text(fields.String):
    """A string that must be present and non-blank (after trimming): "missing <name>" when it
    is not, "invalid <name>" when it is not a string."""

    def __init__(self, name, **kwargs):
        messages = {"required": f"missing {name}", "null": f"missing {name}",
                    "invalid": f"invalid {name}", "blank": f"missing {name}"}
        super().__init__(required=True, error_messages=messages, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if not text:
            raise self.make_error("blank")
        return text


class Day(fields.Field):
    """A UTC calendar day written YYYY-MM-DD."""

    default_error_messages = {"invalid": "invalid date"}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not _DAY.match(value):
            raise self.make_error("invalid")
        try:
            day = date.fromisoformat(value)
        except ValueError:
            raise self.make_error("invalid") from None
        if day.year < 1970 or day.year > 9998:
            raise self.make_error("invalid")
        return day

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else value.isoformat()


class Flag(fields.Field):
    """`true`/`false` (also 1/0, yes/no, on/off, any case; empty = false) in a query string."""

    TRUE, FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off", ""}
    default_error_messages = {"invalid": "invalid verbose"}

    def _deserialize(self, value, attr, data, **kwargs):
        text = value.strip().lower() if isinstance(value, str) else None
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise self.make_error("invalid")


class Rfc3339(fields.Field):
    """A naive UTC datetime written 2024-01-01T12:00:00Z (no fractional seconds)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return ""
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")


class WholeNumber(fields.Field):
    """A whole number written in decimal digits (a path segment or query value), within
    ``minimum``…``maximum`` (None: unbounded)."""

    def __init__(self, name, minimum=1, maximum=None, **kwargs):
        self.minimum, self.maximum = minimum, maximum
        super().__init__(error_messages={"invalid": f"invalid {name}",
                                         "required": f"missing {name}"}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not re.fullmatch(r"-?[0-9]{1,64}", value.strip()):
            raise self.make_error("invalid")
        number = int(value)
        if self.minimum is not None and number < self.minimum:
            raise self.make_error("invalid")
        if self.maximum is not None and number > self.maximum:
            raise self.make_error("invalid")
        return number


class BasicSchema(Schema):
    class Meta:
        unknown = EXCLUDE


# --- requests ----------------------------------------------------------------------------------

class SiteIn(BasicSchema):
    domain = Text("domain", metadata={"description": "host name, e.g. example.com",
                                      "example": "example.com"})


class IgnoreIn(BasicSchema):
    ip = Text("ip", metadata={"description": "an IPv4/IPv6 address, or a CIDR range",
                              "example": "192.168.1.1"})


class TokenPath(BasicSchema):
    id = WholeNumber("id", minimum=None, required=True)


class StatsArgs(BasicSchema):
    site = fields.String(metadata={"description": "only this domain (404 when unknown)"})
    from_ = Day(data_key="from", metadata={"description": "first UTC day, YYYY-MM-DD"})
    to = Day(metadata={"description": "last UTC day (inclusive), YYYY-MM-DD"})
    last = fields.String(metadata={"description": "relative window ending now: <n>h or <n>d, "
                                                  "e.g. 24h, 7d, 30d"})
    verbose = Flag(load_default=False, metadata={"description": "true: one row per pageview"})
    limit = WholeNumber("limit", maximum=MAX_PAGE, metadata={
        "description": f"Ibex: at most this many rows (1…{MAX_PAGE}); the next page's URL is "
                       "in the Link header (rel=next). Without it the whole result streams."})
    cursor = fields.String(metadata={"description": "Ibex: where a page continues (from the "
                                                    "Link header; opaque)"})


# --- responses ---------------------------------------------------------------------------------

class SiteOut(BasicSchema):
    id = fields.Integer(required=True)
    domain = fields.String(attribute="cname", required=True)


class SiteListed(SiteOut):
    created_at = Rfc3339(required=True)


class TokenCreated(BasicSchema):
    token = fields.String(required=True, metadata={"description": "the secret; shown once"})
    id = fields.Integer(required=True)


class TokenListed(BasicSchema):
    id = fields.Integer(required=True)
    created_at = Rfc3339(required=True)


class PathCountOut(BasicSchema):
    site = fields.String(required=True)
    ip = fields.String(required=True)
    path = fields.String(required=True)
    count = fields.Integer(required=True)


class PageviewOut(BasicSchema):
    site = fields.String(required=True)
    ip = fields.String(required=True)
    country = fields.String(required=True)
    region = fields.String(required=True)
    city = fields.String(required=True)
    browser = fields.String(required=True)
    os = fields.String(required=True)
    path = fields.String(required=True)
    referrer = fields.String(required=True)
    time = Rfc3339(required=True)


class Error(BasicSchema):
    error = fields.String(required=True)


def first_error(schema, exc):
    """The single message of a marshmallow error, for the first failing field in the schema's
    declared order."""
    messages = exc.normalized_messages()
    for name, field in schema.fields.items():
        for key in (field.data_key or name, name):
            if key in messages:
                found = messages[key]
                return found[0] if isinstance(found, list) else str(found)
    return "invalid request"


def load(schema, data):
    """``schema.load(data)``, or BadRequest carrying the family's message."""
    try:
        return schema.load(data)
    except SchemaError as exc:
        raise BadRequest(first_error(schema, exc)) from None


class BadRequest(Exception):
    """A 400 with the Basic family's ``{"error": message}`` body."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message
