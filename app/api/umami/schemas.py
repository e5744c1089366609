"""Marshmallow schemas of the Umami family: query arguments and request bodies in, website,
account and realtime objects out (field names exactly as spec/umami.md)."""
import re
from datetime import datetime, timezone
from urllib.parse import unquote

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates

from app.stats import umami as umami_stats

MAX_MS = 253370764799999  # 9998-12-31T23:59:59.999Z: local times stay within Python's range
MAX_ID = 2 ** 31 - 1
_BAD_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def iso_ms(moment):
    """A naive UTC datetime as Umami writes stored timestamps: 2021-04-29T08:15:30.123Z."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def from_ms(ms):
    """Milliseconds since the epoch → naive UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, timezone.utc).replace(tzinfo=None)


class Text(fields.Str):
    """A string the database can hold: no NUL characters (PostgreSQL refuses them)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("contains NUL")
        return text


class Id(fields.Int):
    """A database id: an integer (not a boolean) within the id column's range."""

    def __init__(self, **kwargs):
        super().__init__(strict=kwargs.pop("strict", True),
                         validate=validate.Range(min=1, max=MAX_ID), **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool):
            raise ValidationError("not an id")
        return super()._deserialize(value, attr, data, **kwargs)


class Millis(fields.Int):
    """A Unix time in milliseconds, as a naive UTC datetime."""

    def _deserialize(self, value, attr, data, **kwargs):
        number = super()._deserialize(value, attr, data, **kwargs)
        if not 0 <= number <= MAX_MS:
            raise ValidationError("out of range")
        return from_ms(number)


class DecodedUrl(Text):
    """The ``url`` filter: percent-decoded once more on top of the query string's decoding
    (Umami's QUIRK, spec §7); a malformed escape is a 400, not upstream's 500."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if _BAD_ESCAPE.search(text):
            raise ValidationError("malformed escape")
        try:
            decoded = unquote(text, errors="strict")
        except UnicodeDecodeError:
            raise ValidationError("malformed escape") from None
        if "\x00" in decoded:
            raise ValidationError("contains NUL")
        return decoded


class Zone(fields.Str):
    def _deserialize(self, value, attr, data, **kwargs):
        zone = umami_stats.zone(super()._deserialize(value, attr, data, **kwargs))
        if zone is None:
            raise ValidationError("unknown time zone")
        return zone


class RangeArgs(Schema):
    """``start_at``/``end_at`` in ms (both inclusive) and the optional ``url`` filter."""
    class Meta:
        unknown = EXCLUDE

    start_at = Millis(required=True)
    end_at = Millis(required=True)
    url = DecodedUrl(load_default=None)


class SeriesArgs(RangeArgs):
    unit = Text(required=True, validate=validate.OneOf(umami_stats.UNITS))
    tz = Zone(required=True)


class MetricsArgs(RangeArgs):
    type = Text(load_default=None)


class WebsitesArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    user_id = Id(load_default=None, strict=False)


class RealtimeArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    start_at = Millis(load_default=None)


class LoginBody(Schema):
    class Meta:
        unknown = EXCLUDE

    username = Text(required=True, validate=validate.Length(min=1, max=255))
    password = Text(required=True, validate=validate.Length(min=1, max=1024))


def _truthy(value):
    return value not in (None, False, 0, "", "false", "0")


class WebsiteBody(Schema):
    """POST /api/website: create without ``website_id``, update with it."""
    class Meta:
        unknown = EXCLUDE

    website_id = Id(load_default=None)
    name = Text(load_default=None, validate=validate.Length(min=1, max=100))
    domain = Text(load_default=None, validate=validate.Length(min=1, max=500))
    enable_share_url = fields.Raw(load_default=False)

    @validates("enable_share_url")
    def _share(self, value, **kwargs):
        if isinstance(value, (dict, list)):
            raise ValidationError("must be a boolean")


class AccountBody(Schema):
    """POST /api/account: create without ``user_id``, update with it."""
    class Meta:
        unknown = EXCLUDE

    user_id = Id(load_default=None)
    username = Text(load_default=None, validate=validate.Length(min=1, max=100))
    password = Text(load_default=None, validate=validate.Length(max=1024))
    is_admin = fields.Bool(load_default=None)


class PasswordBody(Schema):
    class Meta:
        unknown = EXCLUDE

    user_id = Id(required=True)
    current_password = Text(required=True, validate=validate.Length(max=1024))
    new_password = Text(required=True, validate=validate.Length(min=1, max=1024))


def share_enabled(body):
    return _truthy(body.get("enable_share_url"))


# --- answers -----------------------------------------------------------------------------------

class Timestamp(fields.Field):
    def _serialize(self, value, attr, obj, **kwargs):
        return iso_ms(value)


class WebsiteSchema(Schema):
    website_id = fields.Int(attribute="id")
    website_uuid = fields.Str(attribute="uuid")
    user_id = fields.Int(attribute="owner_id", allow_none=True)
    name = fields.Str()
    domain = fields.Str(attribute="cname", allow_none=True)
    share_id = fields.Str(allow_none=True)
    created_at = Timestamp()


class AccountSchema(Schema):
    """An account without its password hash (upstream includes it; spec §9 QUIRK)."""
    user_id = fields.Int(attribute="id")
    username = fields.Str()
    is_admin = fields.Bool()
    created_at = Timestamp()
    updated_at = Timestamp()


class TokenSchema(Schema):
    token = fields.Str()


class ClaimsSchema(Schema):
    user_id = fields.Int()
    username = fields.Str()
    is_admin = fields.Bool()
    iat = fields.Int()


class ShareSchema(Schema):
    websiteId = fields.Int()  # noqa: N815 - Umami's field name
    token = fields.Str()


class StatsSchema(Schema):
    pageviews = fields.Int()
    uniques = fields.Int()
    bounces = fields.Int()
    totaltime = fields.Int()


class PointSchema(Schema):
    t = fields.Str()
    y = fields.Int()


class PageviewsSchema(Schema):
    pageviews = fields.List(fields.Nested(PointSchema))
    sessions = fields.List(fields.Nested(PointSchema))


class EventPointSchema(PointSchema):
    x = fields.Str()


class MetricSchema(Schema):
    x = fields.Str(allow_none=True)
    y = fields.Int()


class ActiveSchema(Schema):
    x = fields.Int()


class _Row(Schema):
    website_id = fields.Int()
    session_id = fields.Int(allow_none=True)
    created_at = Timestamp()


class PageviewRow(_Row):
    id_ = fields.Function(lambda row: f"p{row['view_id']}", data_key="__id")
    view_id = fields.Int()
    url = fields.Str()
    referrer = fields.Str(allow_none=True)


class EventRow(_Row):
    id_ = fields.Function(lambda row: f"e{row['event_id']}", data_key="__id")
    event_id = fields.Int()
    url = fields.Str()
    event_type = fields.Str()
    event_value = fields.Str()


class SessionRow(_Row):
    id_ = fields.Function(lambda row: f"s{row['session_id']}", data_key="__id")
    session_uuid = fields.Str()
    hostname = fields.Str(allow_none=True)
    browser = fields.Str(allow_none=True)
    os = fields.Str(allow_none=True)
    device = fields.Str(allow_none=True)
    screen = fields.Str(allow_none=True)
    language = fields.Str(allow_none=True)
    country = fields.Str(allow_none=True)


class RealtimeDataSchema(Schema):
    pageviews = fields.List(fields.Nested(PageviewRow))
    sessions = fields.List(fields.Nested(SessionRow))
    events = fields.List(fields.Nested(EventRow))
    timestamp = fields.Int()


class RealtimeInitSchema(Schema):
    websites = fields.List(fields.Nested(WebsiteSchema))
    token = fields.Str()
    data = fields.Nested(RealtimeDataSchema)
